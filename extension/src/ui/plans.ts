/** Plans from the editor: make one (add a parameter, change a signature), show it, run it. */

import * as vscode from 'vscode';

import { ServerCommand } from '../core/constants';
import { asksForTask, planArguments, planMarkdown } from '../core/plans';
import type { PlanAnswer } from '../core/protocol';
import type { HexadClient } from '../client/server';
import type { ProposalsView } from './proposalsView';
import { message } from './review';

function runIdOf(arg: unknown): string | undefined {
  if (typeof arg === 'string') {
    return arg;
  }
  if (typeof arg === 'object' && arg !== null) {
    const record = arg as Record<string, unknown>;
    if (typeof record.run === 'string') {
      return record.run;
    }
    if (typeof record.id === 'string' && record.id.startsWith('plan/')) {
      return record.id.split('/')[1];
    }
  }
  return undefined;
}

/** The qualified name of the function around the cursor (module path + symbol chain). */
async function symbolAtCursor(): Promise<string | undefined> {
  const editor = vscode.window.activeTextEditor;
  if (editor === undefined) {
    return undefined;
  }
  const folder = vscode.workspace.getWorkspaceFolder(editor.document.uri);
  if (folder === undefined || !editor.document.fileName.endsWith('.py')) {
    return undefined;
  }
  const symbols = (await vscode.commands.executeCommand<vscode.DocumentSymbol[]>(
    'vscode.executeDocumentSymbolProvider',
    editor.document.uri,
  )) ?? [];
  const position = editor.selection.active;
  const chain: string[] = [];
  let level: vscode.DocumentSymbol[] = symbols;
  for (;;) {
    const inside = level.find((s) => s.range.contains(position));
    if (inside === undefined) {
      break;
    }
    chain.push(inside.name);
    level = inside.children;
  }
  if (chain.length === 0) {
    return undefined;
  }
  const rel = vscode.workspace.asRelativePath(editor.document.uri, false);
  const module = rel.replace(/\.py$/, '').replace(/\/__init__$/, '').replace(/\//g, '.');
  return [module, ...chain].join('.');
}

export class Plans {
  constructor(
    private readonly client: HexadClient,
    private readonly view: ProposalsView,
  ) {}

  async make(): Promise<void> {
    const kind = await vscode.window.showQuickPick(
      [
        { label: 'Add a parameter', description: 'and thread it through the callers', id: 'add' },
        { label: 'Change a signature', description: 'and update every call site', id: 'signature' },
      ],
      { title: 'Hexad: plan a task' },
    );
    if (kind === undefined) {
      return;
    }
    const symbol = await vscode.window.showInputBox({
      title: 'Hexad: the function (qualified name)',
      value: (await symbolAtCursor()) ?? '',
      prompt: 'e.g. inventory.stock.restock',
    });
    if (!symbol) {
      return;
    }
    let request: Record<string, unknown>;
    if (kind.id === 'add') {
      const name = await vscode.window.showInputBox({ title: 'Hexad: the new parameter', prompt: 'its name' });
      if (!name) {
        return;
      }
      const fallback = await vscode.window.showInputBox({ title: `Hexad: the default of ${name}`, value: 'None' });
      if (fallback === undefined) {
        return;
      }
      request = { addParameter: { symbol, name, default: fallback } };
    } else {
      const params = await vscode.window.showInputBox({
        title: `Hexad: the new parameters of ${symbol}`,
        prompt: 'the parameter list, without parentheses',
      });
      if (params === undefined) {
        return;
      }
      request = { signature: { symbol, params } };
    }
    try {
      const answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Hexad: planning…' },
        () => this.client.command<PlanAnswer>(ServerCommand.plan, request),
      );
      this.view.plans.record(answer);
      this.view.rebuild();
      await this.show(answer.run);
    } catch (error) {
      void vscode.window.showErrorMessage(`Hexad: ${message(error)}`);
    }
  }

  /**
   * `hexad.plan` from a server code action ("Plan “…”" from a `# hexad:` comment, or
   * "Plan a task here…", which asks for the task first): the plan goes into the view and
   * opens beside the editor.
   */
  async fromAction(
    args: unknown[],
    next: (command: string, args: unknown[]) => Promise<unknown> | unknown,
  ): Promise<PlanAnswer | undefined> {
    let task: string | undefined;
    if (asksForTask(args)) {
      task = await vscode.window.showInputBox({
        title: 'Hexad: plan a task here',
        prompt: 'What should be done? Hexad makes a plan, validates it, and shows it before anything runs.',
        placeHolder: 'e.g. add a floor parameter to low_stock and pass it from every caller',
      });
    }
    const request = planArguments(args, task);
    if (request === undefined) {
      return undefined;
    }
    const answer = (await vscode.window.withProgress(
      { location: vscode.ProgressLocation.Notification, title: 'Hexad: planning…' },
      async () => (await next(ServerCommand.plan, request)) as PlanAnswer | undefined,
    ));
    if (answer === undefined || answer === null) {
      return undefined;
    }
    if (typeof answer.run === 'string') {
      this.view.plans.record(answer);
      this.view.rebuild();
      await this.show(answer.run);
    } else {
      await this.showMarkdown(answer.markdown);
    }
    return answer;
  }

  async show(arg: unknown): Promise<void> {
    const run = runIdOf(arg);
    const plan = run === undefined ? undefined : this.view.plans.get(run);
    if (plan === undefined) {
      return;
    }
    await this.showMarkdown(plan.markdown || planMarkdown(plan.plan));
  }

  private async showMarkdown(content: string): Promise<void> {
    const document = await vscode.workspace.openTextDocument({ language: 'markdown', content });
    await vscode.window.showTextDocument(document, { preview: true, viewColumn: vscode.ViewColumn.Beside });
  }

  async run(arg: unknown): Promise<void> {
    const run = runIdOf(arg);
    if (run === undefined) {
      return;
    }
    this.view.plans.setStatus(run, 'running');
    this.view.rebuild();
    try {
      const answer = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: 'Hexad: running the plan…' },
        () => this.client.command<PlanAnswer>(ServerCommand.planRun, { run }),
      );
      this.view.plans.record(answer);
      void vscode.window.showInformationMessage(`Hexad: the plan ${answer.status}.`);
    } catch (error) {
      this.view.plans.setStatus(run, 'failed');
      void vscode.window.showErrorMessage(`Hexad: ${message(error)}`);
    }
    this.view.rebuild();
    void this.view.refresh();
  }

  async cancel(arg: unknown): Promise<void> {
    const run = runIdOf(arg);
    if (run === undefined) {
      return;
    }
    try {
      await this.client.command(ServerCommand.planCancel, { run });
    } catch (error) {
      void vscode.window.showErrorMessage(`Hexad: ${message(error)}`);
    }
  }
}
