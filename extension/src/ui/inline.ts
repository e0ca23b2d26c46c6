/**
 * Proposal diagnostics: their confidence and evidence shown at the end of the target
 * line, and the code lenses asked for again when proposals change.
 */

import * as vscode from 'vscode';

import { DIAGNOSTIC_SOURCE, PROPOSAL_DIAGNOSTIC_CODE } from '../core/constants';
import { DiagnosticInfo, inlineFromDiagnostic, parseDiagnostic } from '../core/confidence';

interface Shown {
  range: vscode.Range;
  info: DiagnosticInfo;
  severity: vscode.DiagnosticSeverity;
}

export class InlineConfidence implements vscode.Disposable {
  private readonly byUri = new Map<string, Shown[]>();
  private readonly emitter = new vscode.EventEmitter<void>();
  /** Fires when the set of proposals shown in some file changed. */
  readonly onDidChangeProposals = this.emitter.event;
  private readonly decorations = new Map<vscode.DiagnosticSeverity, vscode.TextEditorDecorationType>();
  private readonly subscriptions: vscode.Disposable[] = [];

  constructor(private readonly enabled: () => boolean) {
    const colors: [vscode.DiagnosticSeverity, string][] = [
      [vscode.DiagnosticSeverity.Error, 'editorError.foreground'],
      [vscode.DiagnosticSeverity.Warning, 'editorWarning.foreground'],
      [vscode.DiagnosticSeverity.Information, 'editorInfo.foreground'],
      [vscode.DiagnosticSeverity.Hint, 'editorHint.foreground'],
    ];
    for (const [severity, color] of colors) {
      this.decorations.set(
        severity,
        vscode.window.createTextEditorDecorationType({
          after: { margin: '0 0 0 2em', color: new vscode.ThemeColor(color), fontStyle: 'italic' },
          rangeBehavior: vscode.DecorationRangeBehavior.ClosedClosed,
        }),
      );
    }
    this.subscriptions.push(vscode.window.onDidChangeVisibleTextEditors(() => this.paintAll()));
  }

  /** Called from the client's diagnostics middleware, before the diagnostics are shown. */
  update(uri: vscode.Uri, diagnostics: readonly vscode.Diagnostic[]): void {
    const shown: Shown[] = [];
    for (const d of diagnostics) {
      const code = typeof d.code === 'object' ? d.code.value : d.code;
      if (d.source !== DIAGNOSTIC_SOURCE || code !== PROPOSAL_DIAGNOSTIC_CODE) {
        continue;
      }
      const info = parseDiagnostic(d.message, (d as vscode.Diagnostic & { data?: unknown }).data);
      if (info !== undefined) {
        shown.push({ range: d.range, info, severity: d.severity });
      }
    }
    const key = uri.toString();
    const before = (this.byUri.get(key) ?? []).map((s) => `${s.info.id}:${s.info.stale}`).join(',');
    const after = shown.map((s) => `${s.info.id}:${s.info.stale}`).join(',');
    if (shown.length === 0) {
      this.byUri.delete(key);
    } else {
      this.byUri.set(key, shown);
    }
    for (const editor of vscode.window.visibleTextEditors) {
      if (editor.document.uri.toString() === key) {
        this.paint(editor);
      }
    }
    if (before !== after) {
      this.emitter.fire();
    }
  }

  /** The proposals shown in a document (for the code actions of the extension). */
  at(uri: vscode.Uri): DiagnosticInfo[] {
    return (this.byUri.get(uri.toString()) ?? []).map((s) => s.info);
  }

  paintAll(): void {
    for (const editor of vscode.window.visibleTextEditors) {
      this.paint(editor);
    }
  }

  private paint(editor: vscode.TextEditor): void {
    const shown = this.enabled() ? (this.byUri.get(editor.document.uri.toString()) ?? []) : [];
    for (const [severity, type] of this.decorations) {
      const options = shown
        .filter((s) => s.severity === severity)
        .map((s) => {
          const line = editor.document.lineAt(Math.min(s.range.start.line, editor.document.lineCount - 1));
          return {
            range: new vscode.Range(line.range.end, line.range.end),
            renderOptions: { after: { contentText: inlineFromDiagnostic(s.info) } },
          };
        });
      editor.setDecorations(type, options);
    }
  }

  dispose(): void {
    for (const type of this.decorations.values()) {
      type.dispose();
    }
    for (const s of this.subscriptions) {
      s.dispose();
    }
    this.emitter.dispose();
  }
}
