/** Activation: wires the language client, the review UI and the policy support together. */

import * as path from 'node:path';
import * as vscode from 'vscode';
import { CodeLensRequest, Middleware, ShowDocumentResult } from 'vscode-languageclient/node';

import { HexadClient } from './client/server';
import { onInterpreterChange } from './client/python';
import {
  Command,
  LANGUAGES,
  OUTPUT_CHANNEL,
  PROPOSAL_SCHEME,
  SECTION,
  Setting,
} from './core/constants';
import type { PlanProgress } from './core/protocol';
import { needsRestart } from './core/settings';
import { DiffOpener, ProposalDocuments } from './ui/diff';
import { InlineConfidence } from './ui/inline';
import { Plans } from './ui/plans';
import { registerPolicyCompletion } from './ui/policy';
import { ProposalsView } from './ui/proposalsView';
import { RenameActions, Review } from './ui/review';
import { StatusBar } from './ui/statusBar';

let hexad: HexadClient | undefined;

export async function activate(context: vscode.ExtensionContext): Promise<void> {
  const output = vscode.window.createOutputChannel(OUTPUT_CHANNEL, { log: true });
  const setting = <T>(key: string, fallback: T): T =>
    vscode.workspace.getConfiguration(SECTION).get<T>(key, fallback);
  const inline = new InlineConfidence(() => setting(Setting.inlineConfidence, true));

  // the client needs the middleware, the middleware needs the UI, the UI needs the client:
  // the closures below run only once the client has started, after everything exists
  const client: HexadClient = new HexadClient(output, {
    middleware: {
      executeCommand: (command, args, next) => middleware.executeCommand?.(command, args, next),
      resolveCodeAction: (item, token, next) =>
        middleware.resolveCodeAction ? middleware.resolveCodeAction(item, token, next) : next(item, token),
      window: {
        showDocument: async (params, next): Promise<ShowDocumentResult> => {
          const handler = middleware.window?.showDocument;
          if (handler !== undefined) {
            return handler(params, next);
          }
          const answer = await next(params, new vscode.CancellationTokenSource().token);
          return 'success' in answer ? answer : { success: false };
        },
      },
      handleDiagnostics: (uri, diagnostics, next) => {
        inline.update(uri, diagnostics);
        next(uri, diagnostics);
      },
    },
    onIndexed: () => {
      status.schedule();
      void view.refresh();
    },
    onPlanProgress: (note: PlanProgress) => {
      if (view.plans.progress(note)) {
        view.rebuild();
      }
      if (note.proposal !== undefined && note.proposal !== null) {
        void view.refresh();
      }
    },
  });
  hexad = client;
  const documents = new ProposalDocuments();
  const view = new ProposalsView(client);
  const status = new StatusBar(client);
  const diffs = new DiffOpener(client, documents, (id) => view.proposal(id));
  const review: Review = new Review(client, view, diffs, status, output);
  const plans = new Plans(client, view);
  const middleware: Middleware = review.middleware(plans);

  const refreshLenses = (): void => {
    const lenses = client.languageClient?.getFeature(CodeLensRequest.method);
    for (const editor of vscode.window.visibleTextEditors) {
      lenses?.getProvider(editor.document)?.onDidChangeCodeLensEmitter.fire();
    }
  };

  const r = review;
  context.subscriptions.push(
    output,
    inline,
    documents,
    view,
    status,
    { dispose: () => void client.dispose() },
    vscode.workspace.registerTextDocumentContentProvider(PROPOSAL_SCHEME, documents),
    client.onState((state) => status.setState(state)),
    inline.onDidChangeProposals(() => {
      refreshLenses();
      r.changed();
    }),
    vscode.commands.registerCommand(Command.refresh, () => r.changed()),
    vscode.commands.registerCommand(Command.acceptProposal, (arg) => r.accept(arg)),
    vscode.commands.registerCommand(Command.rejectProposal, (arg) => r.reject(arg)),
    vscode.commands.registerCommand(Command.rejectWithReason, (arg) => r.reject(arg, true)),
    vscode.commands.registerCommand(Command.openDiff, (arg) => r.openDiff(arg)),
    vscode.commands.registerCommand(Command.revealProposal, async (arg: { id: number }) => {
      await r.openDiff(arg);
      await view.reveal(arg.id);
    }),
    vscode.commands.registerCommand(Command.proposeRename, (uri?: vscode.Uri, position?: vscode.Position) =>
      r.proposeRename(uri, position),
    ),
    vscode.commands.registerCommand(Command.makePlan, () => plans.make()),
    vscode.commands.registerCommand(Command.runPlan, (arg) => plans.run(arg)),
    vscode.commands.registerCommand(Command.cancelPlan, (arg) => plans.cancel(arg)),
    vscode.commands.registerCommand(Command.showPlan, (arg) => plans.show(arg)),
    vscode.commands.registerCommand(Command.restart, () => client.restart()),
    vscode.commands.registerCommand(Command.showOutput, () => output.show()),
    vscode.commands.registerCommand(Command.selectInterpreter, async () => {
      const commands = await vscode.commands.getCommands(true);
      if (commands.includes('python.setInterpreter')) {
        await vscode.commands.executeCommand('python.setInterpreter');
      } else {
        await vscode.commands.executeCommand('workbench.action.openSettings', 'hexad.python');
      }
    }),
    vscode.languages.registerCodeActionsProvider(
      LANGUAGES.filter((l) => l === 'python').map((language) => ({ scheme: 'file', language })),
      new RenameActions(),
      { providedCodeActionKinds: [RenameActions.kind] },
    ),
    registerPolicyCompletion(path.join(context.extensionPath, 'schemas', 'policy.schema.json'), () =>
      setting(Setting.policyCompletion, true),
    ),
    vscode.workspace.onDidChangeConfiguration((event) => {
      if (event.affectsConfiguration(`${SECTION}.${Setting.inlineConfidence}`)) {
        inline.paintAll();
      }
      if (needsRestart((section) => event.affectsConfiguration(section))) {
        output.info('settings changed: restarting the server');
        void client.restart();
      }
    }),
  );
  const interpreterChange = await onInterpreterChange(() => {
    if (client.interpreter?.source === 'python-extension' || client.state.kind === 'stopped') {
      output.info('the Python interpreter changed: restarting the server');
      void client.restart();
    }
  });
  if (interpreterChange !== undefined) {
    context.subscriptions.push(interpreterChange);
  }
  await client.start();
  await view.refresh();
}

export async function deactivate(): Promise<void> {
  await hexad?.stop();
}
