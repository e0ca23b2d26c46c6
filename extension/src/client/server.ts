/**
 * Starting, stopping and restarting `<python> -m hexad serve` through the language client.
 */

import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { homedir } from 'node:os';
import * as vscode from 'vscode';
import {
  ClientCapabilities,
  CloseAction,
  ErrorAction,
  ExecuteCommandRequest,
  FeatureState,
  LanguageClient,
  LanguageClientOptions,
  Middleware,
  ServerOptions,
  State,
  StaticFeature,
} from 'vscode-languageclient/node';

import {
  CLIENT_ID,
  CLIENT_NAME,
  LANGUAGES,
  Notification,
  PLAN_PROMPT_CAPABILITY,
  POLICY_GLOBS,
  SECTION,
  Setting,
  TRACE_CHANNEL,
} from '../core/constants';
import {
  CHECK_SCRIPT,
  CheckResult,
  guidance,
  Interpreter,
  parseCheck,
  resolveInterpreter,
  serverArguments,
} from '../core/interpreter';
import type { PlanProgress } from '../core/protocol';
import { serverArgs, toInitializationOptions } from '../core/settings';
import { ServerState } from '../core/status';
import { NotificationProgress, ProgressEvent } from './progress';
import { activeInterpreter, hasPythonExtension } from './python';

/** What the UI does with traffic the client would otherwise handle on its own. */
export interface ClientHooks {
  middleware: Middleware;
  onIndexed(params: unknown): void;
  onPlanProgress(params: PlanProgress): void;
}

export class HexadClient implements vscode.Disposable {
  private client: LanguageClient | undefined;
  private progress: NotificationProgress | undefined;
  private starting: Promise<void> | undefined;
  private readonly stateEmitter = new vscode.EventEmitter<ServerState>();
  private readonly progressEmitter = new vscode.EventEmitter<ProgressEvent>();
  readonly onState = this.stateEmitter.event;
  readonly onProgress = this.progressEmitter.event;
  /** The messages, when `hexad.trace.server` asks for them (one channel across restarts). */
  private readonly trace = vscode.window.createOutputChannel(TRACE_CHANNEL);
  interpreter: Interpreter | undefined;
  state: ServerState = { kind: 'stopped' };

  constructor(
    private readonly output: vscode.LogOutputChannel,
    private readonly hooks: ClientHooks,
  ) {}

  get languageClient(): LanguageClient | undefined {
    return this.client;
  }

  get running(): boolean {
    return this.client?.state === State.Running;
  }

  /** Run a server command without the UI's middleware. */
  async command<T>(command: string, ...args: unknown[]): Promise<T> {
    const client = this.client;
    if (client === undefined || !this.running) {
      throw new Error('the Hexad server is not running');
    }
    return (await client.sendRequest(ExecuteCommandRequest.type, { command, arguments: args })) as T;
  }

  async start(): Promise<void> {
    if (this.starting === undefined) {
      this.starting = this.doStart().finally(() => (this.starting = undefined));
    }
    return this.starting;
  }

  async restart(): Promise<void> {
    await this.starting;
    await this.stop();
    await this.start();
  }

  async stop(): Promise<void> {
    const client = this.client;
    this.client = undefined;
    this.progress?.dispose();
    this.progress = undefined;
    if (client !== undefined) {
      try {
        if (client.isRunning()) {
          await client.stop(5000);
        }
      } catch (error) {
        this.output.warn(`stopping the server: ${String(error)}`);
      }
      await client.dispose();
    }
    this.setState({ kind: 'stopped', reason: 'stopped' });
  }

  async dispose(): Promise<void> {
    await this.stop();
    this.stateEmitter.dispose();
    this.progressEmitter.dispose();
    this.trace.dispose();
  }

  private setState(state: ServerState): void {
    this.state = state;
    this.stateEmitter.fire(state);
  }

  private async doStart(): Promise<void> {
    this.setState({ kind: 'starting' });
    const folder = vscode.workspace.workspaceFolders?.[0];
    const config = vscode.workspace.getConfiguration(SECTION, folder);
    const interpreter = resolveInterpreter({
      setting: config.get<string>(Setting.python) || undefined,
      pythonExtension: await activeInterpreter(folder?.uri),
      workspaceFolder: folder?.uri.fsPath,
      home: homedir(),
      env: process.env,
      platform: process.platform,
      exists: existsSync,
    });
    this.interpreter = interpreter;
    this.output.info(`interpreter: ${interpreter.command} (${interpreter.source})`);
    const check = await checkInterpreter(interpreter.command, folder?.uri.fsPath);
    if (!check.ok) {
      const advice = guidance(interpreter, check);
      this.output.error(`${advice?.message ?? 'cannot start'} [${check.detail}]`);
      this.setState({ kind: 'stopped', reason: advice?.message });
      void this.tellUser(advice?.message ?? 'Hexad cannot start.', advice?.install);
      return;
    }
    this.output.info(`hexad ${check.hexad} on Python ${check.python} (${check.executable})`);

    const args = serverArguments(serverArgs(config.get(Setting.serverArgs)));
    // stdio without `transport`: TransportKind.stdio would add a `--stdio` argument
    const serverOptions: ServerOptions = {
      command: interpreter.command,
      args,
      options: { cwd: folder?.uri.fsPath, env: { ...process.env, PYTHONUNBUFFERED: '1' } },
    };
    const read = (key: string): unknown => {
      const inspected = config.inspect(key);
      const set =
        inspected?.workspaceFolderValue ?? inspected?.workspaceValue ?? inspected?.globalValue;
      return set;
    };
    const clientOptions: LanguageClientOptions = {
      documentSelector: [
        ...LANGUAGES.map((language) => ({ scheme: 'file', language })),
        ...POLICY_GLOBS.map((pattern) => ({ scheme: 'file', pattern })),
      ],
      initializationOptions: toInitializationOptions(read),
      outputChannel: this.output,
      traceOutputChannel: this.trace,
      revealOutputChannelOn: 4, // RevealOutputChannelOn.Never
      middleware: this.hooks.middleware,
      errorHandler: {
        error: () => ({ action: ErrorAction.Continue }),
        closed: () => {
          this.setState({ kind: 'stopped', reason: 'the server exited' });
          return { action: CloseAction.DoNotRestart, message: 'The Hexad server stopped. Run "Hexad: Restart Server" to start it again.' };
        },
      },
    };
    this.output.info(`starting: ${interpreter.command} ${args.join(' ')}`);
    const client = new LanguageClient(CLIENT_ID, CLIENT_NAME, serverOptions, clientOptions);
    const progress = new NotificationProgress(client, () =>
      config.get<string>(Setting.indexNotification, 'notification') === 'notification'
        ? vscode.ProgressLocation.Notification
        : vscode.ProgressLocation.Window,
    );
    progress.onProgress((event) => {
      if (event.kind === 'end') {
        this.setState({ kind: 'running' });
      } else {
        this.setState({ kind: 'indexing', percentage: event.percentage, message: event.message });
      }
      this.progressEmitter.fire(event);
    });
    client.registerFeature(progress);
    client.registerFeature(new PlanPromptCapability());
    client.onNotification(Notification.indexed, (params: unknown) => this.hooks.onIndexed(params));
    client.onNotification(Notification.planProgress, (params: PlanProgress) => this.hooks.onPlanProgress(params));
    client.onDidChangeState((event) => {
      if (event.newState === State.Running && this.state.kind === 'starting') {
        this.setState({ kind: 'running' });
      } else if (event.newState === State.Stopped && this.client === client) {
        this.setState({ kind: 'stopped', reason: 'the server stopped' });
      }
    });
    this.client = client;
    this.progress = progress;
    try {
      await client.start();
    } catch (error) {
      this.output.error(`the server did not start: ${String(error)}`);
      this.setState({ kind: 'stopped', reason: String(error) });
      void this.tellUser(`Hexad: the server did not start (${String(error)}).`);
      return;
    }
    if (this.state.kind === 'starting') {
      this.setState({ kind: 'running' });
    }
  }

  private async tellUser(message: string, install?: string): Promise<void> {
    const choices = [
      ...(hasPythonExtension() ? ['Select Interpreter'] : []),
      'Set hexad.python',
      ...(install ? ['Install in Terminal'] : []),
      'Show Log',
    ];
    const choice = await vscode.window.showErrorMessage(message, ...choices);
    if (choice === 'Select Interpreter') {
      await vscode.commands.executeCommand('python.setInterpreter');
    } else if (choice === 'Set hexad.python') {
      await vscode.commands.executeCommand('workbench.action.openSettings', 'hexad.python');
    } else if (choice === 'Install in Terminal' && install) {
      const terminal = vscode.window.createTerminal('Hexad install');
      terminal.show();
      terminal.sendText(install, false);
    } else if (choice === 'Show Log') {
      this.output.show();
    }
  }
}

/** Tells the server that this client asks for a plan's task text (see plans.ts). */
class PlanPromptCapability implements StaticFeature {
  fillClientCapabilities(capabilities: ClientCapabilities): void {
    capabilities.experimental = { ...(capabilities.experimental as object | undefined), [PLAN_PROMPT_CAPABILITY]: true };
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  initialize(): void {}

  clear(): void {}
}

/** Ask the interpreter which Python it is and whether Hexad imports. */
export function checkInterpreter(command: string, cwd?: string): Promise<CheckResult> {
  return new Promise((resolve) => {
    execFile(command, ['-c', CHECK_SCRIPT], { cwd, timeout: 30_000, windowsHide: true }, (error, stdout) => {
      const spawnError =
        error !== null && (error as NodeJS.ErrnoException).code === 'ENOENT' ? `${command} not found` : undefined;
      const exitCode = error === null ? 0 : typeof error.code === 'number' ? error.code : null;
      resolve(parseCheck(String(stdout), exitCode, spawnError));
    });
  });
}
