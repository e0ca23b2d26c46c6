/** The status bar item: index state and budget used today (`hexad.status`). */

import * as vscode from 'vscode';

import { Command, ServerCommand } from '../core/constants';
import type { StatusAnswer } from '../core/protocol';
import { ServerState, statusView } from '../core/status';
import type { HexadClient } from '../client/server';

const POLL_MS = 60_000;

export class StatusBar implements vscode.Disposable {
  private readonly item = vscode.window.createStatusBarItem('hexad.status', vscode.StatusBarAlignment.Left, 50);
  private state: ServerState = { kind: 'starting' };
  private last: StatusAnswer | undefined;
  private timer: NodeJS.Timeout | undefined;
  private pending: NodeJS.Timeout | undefined;

  constructor(private readonly client: HexadClient) {
    this.item.name = 'Hexad';
    this.item.command = Command.showOutput;
    this.render();
    this.item.show();
    this.timer = setInterval(() => void this.refresh(), POLL_MS);
  }

  setState(state: ServerState): void {
    this.state = state;
    if (state.kind === 'running') {
      this.schedule();
    }
    this.render();
  }

  /** Ask the server soon (several events in a row make one request). */
  schedule(delay = 200): void {
    if (this.pending !== undefined) {
      clearTimeout(this.pending);
    }
    this.pending = setTimeout(() => {
      this.pending = undefined;
      void this.refresh();
    }, delay);
  }

  async refresh(): Promise<void> {
    if (!this.client.running || this.state.kind === 'stopped') {
      return;
    }
    try {
      this.last = await this.client.command<StatusAnswer>(ServerCommand.status);
    } catch {
      return; // an older server without hexad.status, or one restarting
    }
    this.render();
  }

  private render(): void {
    const state: ServerState = this.state.kind === 'running' ? { kind: 'running', status: this.last } : this.state;
    const view = statusView(state);
    this.item.text = view.text;
    const tooltip = new vscode.MarkdownString(view.tooltip);
    tooltip.supportThemeIcons = true;
    this.item.tooltip = tooltip;
    this.item.command = this.state.kind === 'stopped' ? Command.showOutput : 'workbench.view.extension.hexad';
    this.item.backgroundColor =
      view.level === 'error'
        ? new vscode.ThemeColor('statusBarItem.errorBackground')
        : view.level === 'warning'
          ? new vscode.ThemeColor('statusBarItem.warningBackground')
          : undefined;
  }

  dispose(): void {
    if (this.timer !== undefined) {
      clearInterval(this.timer);
    }
    if (this.pending !== undefined) {
      clearTimeout(this.pending);
    }
    this.item.dispose();
  }
}
