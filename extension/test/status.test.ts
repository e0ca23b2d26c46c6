import assert from 'node:assert/strict';
import { test } from 'node:test';

import type { StatusAnswer } from '../src/core/protocol';
import { budgetLine, compact, statusTooltip, statusView } from '../src/core/status';

function answer(overrides: Partial<StatusAnswer> = {}): StatusAnswer {
  return {
    index: { state: 'ready', files: 1234, symbols: 9000, references: 20000, lastRunSeconds: 1.234 },
    today: { tokens: 12_500, seconds: 42, proposals: 3, since: 0 },
    budgets: [
      { name: 'tokens_per_day', metric: 'tokens', windowSeconds: 86_400, spent: 12_500, limit: 2_000_000 },
      { name: 'proposals_per_hour', metric: 'proposals', windowSeconds: 3_600, spent: 2, limit: 120 },
    ],
    proposals: { live: 2, byStatus: { proposed: 2 }, byDecision: { proceed: 1, review: 1 } },
    ...overrides,
  };
}

test('numbers are compact', () => {
  assert.equal(compact(0), '0');
  assert.equal(compact(12), '12');
  assert.equal(compact(1234), '1.2k');
  assert.equal(compact(12_500), '12.5k');
  assert.equal(compact(2_000_000), '2M');
  assert.equal(compact(150_000), '150k');
  assert.equal(compact(1.5), '1.5');
});

test('the status bar: files, proposals to review, tokens of the day against the budget', () => {
  const view = statusView({ kind: 'running', status: answer() });
  assert.equal(view.text, '$(check) Hexad: 1.2k files · 2 to review · 12.5k/2M tokens today');
  assert.equal(view.level, undefined);
  assert.equal(budgetLine(answer({ budgets: [] })), undefined);
  assert.equal(
    budgetLine(answer({ budgets: [{ name: 'tokens_per_day', metric: 'tokens', windowSeconds: 86_400, spent: 0, limit: null }] })),
    '0/∞ tokens',
  );
});

test('a budget at 90% turns the item to a warning', () => {
  const view = statusView({
    kind: 'running',
    status: answer({
      budgets: [{ name: 'proposals_per_hour', metric: 'proposals', windowSeconds: 3_600, spent: 110, limit: 120 }],
    }),
  });
  assert.equal(view.level, 'warning');
});

test('starting, indexing, stopped, no workspace', () => {
  assert.equal(statusView({ kind: 'starting' }).text, '$(loading~spin) Hexad');
  assert.equal(statusView({ kind: 'indexing', percentage: 42.4, message: '5/12 files' }).text, '$(sync~spin) Hexad: indexing 42%');
  assert.match(statusView({ kind: 'indexing' }).tooltip, /indexing the workspace\./);
  const stopped = statusView({ kind: 'stopped', reason: 'Hexad is not installed in python3' });
  assert.equal(stopped.level, 'error');
  assert.match(stopped.tooltip, /not running: Hexad is not installed/);
  assert.equal(statusView({ kind: 'running' }).text, '$(check) Hexad');
  const none = statusView({ kind: 'running', status: answer({ index: { state: 'no workspace' } }) });
  assert.equal(none.level, 'warning');
});

test('the tooltip is a table of the index, proposals, today and every budget', () => {
  const tip = statusTooltip(answer());
  assert.match(tip, /\| index \| ready: 1234 files, 9000 symbols, last run 1\.2 s \|/);
  assert.match(tip, /\| proposals \| 2 live, 1 proceed, 1 review \|/);
  assert.match(tip, /\| today \| 3 proposals, 12\.5k model tokens, 42 s \|/);
  assert.match(tip, /\| tokens_per_day \| 12\.5k of 2M \(1%\) in the last 24 h \|/);
  assert.match(tip, /\| proposals_per_hour \| 2 of 120 \(2%\) in the last 1 h \|/);
});
