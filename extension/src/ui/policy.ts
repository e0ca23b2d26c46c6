/** Completion in Hexad policy files, from the JSON Schema shipped in the extension. */

import { readFileSync } from 'node:fs';
import * as vscode from 'vscode';

import { POLICY_GLOBS } from '../core/constants';
import { complete, JsonSchema, PolicySchema, Suggestion } from '../core/policyCompletion';

const KINDS: Record<Suggestion['kind'], vscode.CompletionItemKind> = {
  property: vscode.CompletionItemKind.Property,
  value: vscode.CompletionItemKind.EnumMember,
  table: vscode.CompletionItemKind.Module,
};

export function loadSchema(path: string): PolicySchema {
  return new PolicySchema(JSON.parse(readFileSync(path, 'utf-8')) as JsonSchema);
}

export function registerPolicyCompletion(schemaPath: string, enabled: () => boolean): vscode.Disposable {
  let schema: PolicySchema | undefined;
  const provider: vscode.CompletionItemProvider = {
    provideCompletionItems(document, position) {
      if (!enabled()) {
        return [];
      }
      schema ??= loadSchema(schemaPath);
      return complete(schema, document.getText(), position.line, position.character).map((s) => {
        const item = new vscode.CompletionItem(s.label, KINDS[s.kind]);
        item.insertText = s.insertText;
        item.detail = s.detail;
        if (s.documentation) {
          item.documentation = new vscode.MarkdownString(s.documentation);
        }
        item.range = new vscode.Range(position.translate(0, -Math.min(s.replace, position.character)), position);
        return item;
      });
    },
  };
  const selector = POLICY_GLOBS.map((pattern) => ({ scheme: 'file', pattern }));
  return vscode.languages.registerCompletionItemProvider(selector, provider, '[', '=', ' ', '"', '{', ',', '.');
}
