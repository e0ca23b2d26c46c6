/** A proposal's change as a side-by-side diff of read-only documents. */

import * as vscode from 'vscode';

import { PROPOSAL_SCHEME, ServerCommand } from '../core/constants';
import { cacheKey, changesTitle, diffPath, diffTitle, parseDiffPath } from '../core/diffUri';
import type { ProposalJson, ShowDiffAnswer } from '../core/protocol';
import type { HexadClient } from '../client/server';

export class ProposalDocuments implements vscode.TextDocumentContentProvider, vscode.Disposable {
  private readonly texts = new Map<string, string>();
  private readonly emitter = new vscode.EventEmitter<vscode.Uri>();
  readonly onDidChange = this.emitter.event;

  provideTextDocumentContent(uri: vscode.Uri): string {
    const ref = parseDiffPath(uri.path);
    return ref === undefined ? '' : (this.texts.get(cacheKey(ref)) ?? '');
  }

  /** Keep the texts of an answer; returns (before, after) URIs per file. */
  store(answer: ShowDiffAnswer): { path: string; before: vscode.Uri; after: vscode.Uri }[] {
    return answer.files.map((file) => {
      const shown = file.newPath ?? file.path;
      const before = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: diffPath({ id: answer.id, side: 'before', path: file.path }) });
      const after = vscode.Uri.from({ scheme: PROPOSAL_SCHEME, path: diffPath({ id: answer.id, side: 'after', path: shown }) });
      this.texts.set(cacheKey({ id: answer.id, side: 'before', path: file.path }), file.before ?? '');
      this.texts.set(cacheKey({ id: answer.id, side: 'after', path: shown }), file.after ?? '');
      this.emitter.fire(before);
      this.emitter.fire(after);
      return { path: file.path, before, after };
    });
  }

  dispose(): void {
    this.emitter.dispose();
    this.texts.clear();
  }
}

export class DiffOpener {
  constructor(
    private readonly client: HexadClient,
    private readonly documents: ProposalDocuments,
    private readonly lookup: (id: number) => ProposalJson | undefined,
  ) {}

  /** Ask the server for the proposal's files and show them side by side. */
  async show(id: number, path?: string): Promise<ShowDiffAnswer> {
    const answer = await this.client.command<ShowDiffAnswer>(ServerCommand.showDiff, { id });
    await this.open(answer, path);
    return answer;
  }

  async open(answer: ShowDiffAnswer, path?: string): Promise<void> {
    const files = this.documents.store(answer);
    const proposal = this.lookup(answer.id);
    const task = proposal?.task ?? 'proposal';
    const chosen = path === undefined ? files : files.filter((f) => f.path === path);
    if (chosen.length === 1 || (chosen.length > 1 && !(await hasMultiDiff()))) {
      const file = chosen[0];
      const title = diffTitle(answer.id, task, file.path, proposal?.confidence, proposal?.trust.decision);
      await vscode.commands.executeCommand('vscode.diff', file.before, file.after, title, { preview: true });
      return;
    }
    if (chosen.length > 1) {
      const title = changesTitle(answer.id, task, proposal?.confidence, proposal?.trust.decision);
      const resources = chosen.map((f) => [f.after, f.before, f.after]);
      await vscode.commands.executeCommand('vscode.changes', title, resources);
    }
  }
}

async function hasMultiDiff(): Promise<boolean> {
  const commands = await vscode.commands.getCommands(true);
  return commands.includes('vscode.changes');
}
