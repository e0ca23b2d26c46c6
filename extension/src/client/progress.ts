/**
 * Work-done progress (the server's index progress) as a notification rather than the
 * language client's default status-bar spinner, reported to the status bar item too.
 */

import * as vscode from 'vscode';
import {
  BaseLanguageClient,
  FeatureState,
  StaticFeature,
  WorkDoneProgress,
  WorkDoneProgressBegin,
  WorkDoneProgressCreateRequest,
  WorkDoneProgressReport,
} from 'vscode-languageclient/node';

export interface ProgressEvent {
  token: string;
  kind: 'begin' | 'report' | 'end';
  title?: string;
  message?: string;
  percentage?: number;
}

export class NotificationProgress implements StaticFeature {
  private readonly emitter = new vscode.EventEmitter<ProgressEvent>();
  readonly onProgress = this.emitter.event;
  private readonly parts = new Set<vscode.Disposable>();

  constructor(
    private readonly client: BaseLanguageClient,
    private readonly location: () => vscode.ProgressLocation,
  ) {}

  fillClientCapabilities(): void {
    // the client's own progress feature already says window.workDoneProgress = true
  }

  getState(): FeatureState {
    return { kind: 'static' };
  }

  initialize(): void {
    // registered after the client's own feature: this handler replaces its handler
    this.client.onRequest(WorkDoneProgressCreateRequest.type, ({ token }) => {
      this.track(String(token));
    });
  }

  clear(): void {
    for (const part of this.parts) {
      part.dispose();
    }
    this.parts.clear();
  }

  dispose(): void {
    this.clear();
    this.emitter.dispose();
  }

  private track(token: string): void {
    let report: vscode.Progress<{ message?: string; increment?: number }> | undefined;
    let done: (() => void) | undefined;
    let last = 0;
    const finished = new Promise<void>((resolve) => (done = resolve));
    const begin = (value: WorkDoneProgressBegin): void => {
      void vscode.window.withProgress(
        { location: this.location(), title: value.title, cancellable: false },
        async (progress) => {
          report = progress;
          if (value.message !== undefined || value.percentage !== undefined) {
            progress.report({ message: value.message, increment: value.percentage });
            last = value.percentage ?? 0;
          }
          await finished;
        },
      );
    };
    const update = (value: WorkDoneProgressReport): void => {
      const increment = value.percentage !== undefined ? Math.max(0, value.percentage - last) : undefined;
      last = value.percentage ?? last;
      report?.report({ message: value.message, increment });
    };
    const subscription = this.client.onProgress(WorkDoneProgress.type, token, (value) => {
      if (value.kind === 'begin') {
        begin(value);
        this.emitter.fire({ token, kind: 'begin', title: value.title, message: value.message, percentage: value.percentage });
      } else if (value.kind === 'report') {
        update(value);
        this.emitter.fire({ token, kind: 'report', message: value.message, percentage: value.percentage });
      } else {
        this.emitter.fire({ token, kind: 'end', message: value.message });
        end();
      }
    });
    const part = { dispose: () => end() };
    const end = (): void => {
      subscription.dispose();
      done?.();
      this.parts.delete(part);
    };
    this.parts.add(part);
  }
}
