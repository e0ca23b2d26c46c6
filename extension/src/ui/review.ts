/**
 * Reviewing proposals: accept, reject, show the diff, from the view, the diff editor's
 * title bar, code lenses and code actions; and the language client middleware that
 * routes the server's own commands (`hexad.review`, `hexad.showDiff`) to this UI.
 */

import * as vscode from 'vscode';
import type { Middleware } from 'vscode-languageclient/node';

import { commandToRun } from '../core/actions';
import { formatConfidence } from '../core/confidence';
import { Command, PROPOSAL_SCHEME, ServerCommand } from '../core/constants';
import { parseDiffPath, serverDiffFile } from '../core/diffUri';
import { codePointColumn, identifierAt, isIdentifier, workspaceRelative } from '../core/positions';
import type { AcceptAnswer, ProposalJson } from '../core/protocol';
import type { TreeNode } from '../core/tree';
import type { HexadClient } from '../client/server';
import type { DiffOpener } from './diff';
import type { Plans } from './plans';
import type { ProposalsView } from './proposalsView';
import type { StatusBar } from './statusBar';

/** A proposal id from whatever a command was invoked with: a view node, a URI, {id}, a number. */
export function proposalIdOf(arg: unknown): number | undefined {
  if (typeof arg === 'number') {
    return arg;
  }
  if (arg instanceof vscode.Uri) {
    return arg.scheme === PROPOSAL_SCHEME ? parseDiffPath(arg.path)?.id : undefined;
  }
  if (typeof arg === 'object' && arg !== null) {
    const record = arg as Record<string, unknown>;
    if (typeof record.id === 'number') {
      return record.id;
    }
    if (typeof record.id === 'string') {
      const match = /^proposal\/(\d+)/.exec(record.id);
      return match ? Number(match[1]) : undefined;
    }
  }
  return undefined;
}

export class Review {
  constructor(
    private readonly client: HexadClient,
    private readonly view: ProposalsView,
    private readonly diffs: DiffOpener,
    private readonly status: StatusBar,
    private readonly output: vscode.LogOutputChannel,
  ) {}

  /** Changes the server may have made: proposals, status, code lenses. */
  changed(): void {
    void this.view.refresh();
    this.status.schedule();
  }

  async accept(arg: unknown): Promise<AcceptAnswer | undefined> {
    const id = await this.pick(arg, 'accept');
    if (id === undefined) {
      return undefined;
    }
    return (await vscode.commands.executeCommand(ServerCommand.accept, { id })) as AcceptAnswer | undefined;
  }

  async reject(arg: unknown, askReason = false): Promise<unknown> {
    const id = await this.pick(arg, 'reject');
    if (id === undefined) {
      return undefined;
    }
    let reason: string | undefined;
    if (askReason) {
      reason = await vscode.window.showInputBox({
        title: `Reject Hexad proposal #${id}`,
        prompt: 'Why? Hexad remembers it as a note for later proposals.',
      });
      if (reason === undefined) {
        return undefined;
      }
    }
    return vscode.commands.executeCommand(ServerCommand.reject, reason ? { id, reason } : { id });
  }

  async openDiff(arg: unknown): Promise<void> {
    const id = proposalIdOf(arg);
    if (id === undefined) {
      return;
    }
    const path = typeof arg === 'object' && arg !== null ? (arg as { path?: unknown }).path : undefined;
    await this.diffs.show(id, typeof path === 'string' ? path : undefined);
  }

  /** Show a proposal: its diff side by side, selected in the view, and the choice. */
  async review(id: number): Promise<ProposalJson | undefined> {
    await this.view.refresh();
    await this.diffs.show(id);
    void this.view.reveal(id);
    const proposal = this.view.proposal(id);
    if (proposal === undefined) {
      return undefined;
    }
    const acceptable = proposal.status === 'proposed' && proposal.verification.passed;
    const choices = acceptable ? ['Accept', 'Reject'] : ['Reject'];
    void vscode.window
      .showInformationMessage(
        `Hexad #${proposal.id} ${proposal.task}: ${formatConfidence(proposal.confidence)} → ${proposal.trust.decision} · ${proposal.verification.summary}`,
        ...choices,
      )
      .then((choice) => {
        if (choice === 'Accept') {
          void this.accept(id);
        } else if (choice === 'Reject') {
          void this.reject(id);
        }
      });
    return proposal;
  }

  /** Propose renaming the identifier at the cursor, verified, then review it. */
  async proposeRename(uri?: vscode.Uri, position?: vscode.Position): Promise<void> {
    const editor = vscode.window.activeTextEditor;
    const document = uri ? await vscode.workspace.openTextDocument(uri) : editor?.document;
    const at = position ?? editor?.selection.active;
    const folder = document ? vscode.workspace.getWorkspaceFolder(document.uri) : undefined;
    if (document === undefined || at === undefined || folder === undefined) {
      void vscode.window.showWarningMessage('Hexad: open a file of the workspace and put the cursor on a name.');
      return;
    }
    const lineText = document.lineAt(at.line).text;
    const word = identifierAt(lineText, at.character);
    const path = workspaceRelative(folder.uri.fsPath, document.uri.fsPath);
    if (word === undefined || path === undefined) {
      void vscode.window.showWarningMessage('Hexad: put the cursor on a name to rename.');
      return;
    }
    const newName = await vscode.window.showInputBox({
      title: `Hexad: rename ${word.word}`,
      value: word.word,
      prompt: 'The new name; Hexad computes the edit, verifies it and shows its confidence.',
      validateInput: (value) => (isIdentifier(value) && value !== word.word ? undefined : 'a new identifier'),
    });
    if (newName === undefined) {
      return;
    }
    const request = {
      kind: 'rename',
      path,
      line: at.line,
      col: codePointColumn(lineText, word.start),
      newName,
    };
    await this.propose(request, `renaming ${word.word} to ${newName}`);
  }

  async propose(request: Record<string, unknown>, what: string): Promise<void> {
    let proposal: ProposalJson;
    try {
      proposal = await vscode.window.withProgress(
        { location: vscode.ProgressLocation.Notification, title: `Hexad: ${what}…`, cancellable: false },
        () => this.client.command<ProposalJson>(ServerCommand.propose, request),
      );
    } catch (error) {
      void vscode.window.showErrorMessage(`Hexad: ${message(error)}`);
      return;
    }
    this.changed();
    await this.review(proposal.id);
  }

  /** The middleware: server commands land here first. */
  middleware(plans: Plans): Middleware {
    return {
      resolveCodeAction: async (item, token, next) => {
        const resolved = await next(item, token);
        const command = commandToRun(resolved ?? undefined);
        if (resolved && command !== undefined) {
          // run it here: VS Code may have dropped the set this action belongs to (actions.ts)
          resolved.command = undefined;
          setTimeout(() => void vscode.commands.executeCommand(command.command, ...(command.arguments ?? [])), 0);
        }
        return resolved;
      },
      executeCommand: async (command, args, next) => {
        const id = proposalIdOf(args[0]);
        try {
          switch (command) {
            case ServerCommand.plan:
              return await plans.fromAction(args, next);
            case ServerCommand.review:
              return id === undefined ? next(command, args) : await this.review(id);
            case ServerCommand.showDiff:
              return id === undefined ? next(command, args) : await this.diffs.show(id);
            case ServerCommand.accept: {
              const answer = (await next(command, args)) as AcceptAnswer | undefined;
              if (answer !== undefined && id !== undefined) {
                this.view.settle(id, answer.applied ? answer.status : (answer.status ?? 'proposed'));
                if (!answer.applied) {
                  void vscode.window.showWarningMessage(
                    `Hexad #${id} was not applied${answer.failureReason ? `: ${answer.failureReason}` : ''}.`,
                  );
                }
              }
              this.changed();
              return answer;
            }
            case ServerCommand.reject: {
              const answer = await next(command, args);
              if (id !== undefined) {
                this.view.settle(id, 'rejected');
              }
              this.changed();
              return answer;
            }
            default: {
              const answer = await next(command, args);
              if (command.startsWith('hexad.')) {
                this.changed();
              }
              return answer;
            }
          }
        } catch (error) {
          this.output.error(`${command}: ${message(error)}`);
          void vscode.window.showErrorMessage(`Hexad: ${message(error)}`);
          this.changed();
          return undefined;
        }
      },
      window: {
        // the server writes a unified diff and asks to show it; the side-by-side diff
        // opened by hexad.showDiff shows the same change
        showDocument: async (params, next) => {
          if (serverDiffFile(params.uri) !== undefined) {
            return { success: true };
          }
          const answer = await next(params, new vscode.CancellationTokenSource().token);
          return 'success' in answer ? answer : { success: false };
        },
      },
    };
  }

  private async pick(arg: unknown, verb: string): Promise<number | undefined> {
    const id = proposalIdOf(arg) ?? proposalIdOf(activeProposalUri());
    if (id !== undefined) {
      return id;
    }
    const live = this.view.proposals().filter((p) => p.status === 'proposed');
    if (live.length === 0) {
      void vscode.window.showInformationMessage('Hexad: no proposal to review.');
      return undefined;
    }
    const chosen = await vscode.window.showQuickPick(
      live.map((p) => ({ label: `#${p.id} ${p.task}`, description: p.summary, id: p.id })),
      { title: `Hexad: ${verb} which proposal?` },
    );
    return chosen?.id;
  }
}

function activeProposalUri(): vscode.Uri | undefined {
  const uri = vscode.window.activeTextEditor?.document.uri;
  return uri?.scheme === PROPOSAL_SCHEME ? uri : undefined;
}

export function message(error: unknown): string {
  if (error instanceof Error) {
    return error.message;
  }
  return typeof error === 'object' && error !== null && 'message' in error
    ? String((error as { message: unknown }).message)
    : String(error);
}

/** The extension's own code action: a verified rename of the name at the cursor. */
export class RenameActions implements vscode.CodeActionProvider {
  static readonly kind = vscode.CodeActionKind.RefactorRewrite.append('hexad').append('rename');

  provideCodeActions(document: vscode.TextDocument, range: vscode.Range): vscode.CodeAction[] {
    if (!range.isSingleLine) {
      return [];
    }
    const word = identifierAt(document.lineAt(range.start.line).text, range.start.character);
    if (word === undefined) {
      return [];
    }
    const action = new vscode.CodeAction(`Hexad: Rename ${word.word} (verified)…`, RenameActions.kind);
    action.command = {
      command: Command.proposeRename,
      title: 'Rename with a verified proposal',
      arguments: [document.uri, new vscode.Position(range.start.line, word.start)],
    };
    return [action];
  }
}

export type { TreeNode };
