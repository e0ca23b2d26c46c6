import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  decisionIcon,
  evidenceLines,
  formatConfidence,
  inlineFromDiagnostic,
  inlineText,
  parseDiagnostic,
  percent,
  statusIcon,
} from '../src/core/confidence';
import { proposal } from './fixtures';

test('confidence shows with two decimals, clamped', () => {
  assert.equal(formatConfidence(0.912), '0.91');
  assert.equal(formatConfidence(1.2), '1.00');
  assert.equal(formatConfidence(-1), '0.00');
  assert.equal(formatConfidence(Number.NaN), '?');
  assert.equal(percent(0.915), '92%');
});

test('icons for decisions and statuses', () => {
  assert.equal(decisionIcon('proceed'), 'pass');
  assert.equal(decisionIcon('review'), 'eye');
  assert.equal(decisionIcon('escalate'), 'warning');
  assert.equal(decisionIcon('?'), 'question');
  assert.equal(statusIcon('rejected'), 'close');
  assert.equal(statusIcon('applied'), 'check');
  assert.equal(statusIcon('stale'), 'history');
});

test('evidence, strongest push first, signed', () => {
  assert.deepEqual(evidenceLines(proposal().trust.evidence, 3), [
    '+1.10 2/2 affected tests pass',
    '+0.60 parses ✓',
    '+0.40 names resolve ✓',
  ]);
  assert.deepEqual(evidenceLines([{ text: 'wide edit', weight: -0.25 }]), ['−0.25 wide edit']);
});

test('the inline text of a proposal', () => {
  assert.equal(
    inlineText(proposal()),
    'Hexad #3 0.91 proceed — 2/2 affected tests pass; parses ✓; names resolve ✓',
  );
  const stale = proposal({ status: 'stale', verification: { passed: false, summary: '', checks: [] } });
  assert.match(inlineText(stale, 1), /^Hexad #3 0\.91 proceed · stale · verification failed — 2\/2/);
});

test("the server's proposal diagnostic message is read back", () => {
  // as server/hexad/lsp/proposals.py `_diagnostic` writes it
  const message =
    'Hexad #12 Rename total_value to stock_value: 0.87 → review — parses ✓; names resolve ✓; 2/2 affected tests pass';
  const info = parseDiagnostic(message, { proposal: 12, confidence: 0.8731 });
  assert.deepEqual(info, {
    id: 12,
    confidence: 0.8731,
    task: 'Rename total_value to stock_value',
    decision: 'review',
    evidence: ['parses ✓', 'names resolve ✓', '2/2 affected tests pass'],
    stale: false,
  });
  assert.equal(
    inlineFromDiagnostic(info!),
    'Hexad #12 0.87 review — parses ✓; names resolve ✓; 2/2 affected tests pass',
  );
});

test('stale and failed proposals, and data missing', () => {
  const message =
    'Hexad #4 Add import: with_tax: 0.55 → escalate — parses ✓ · stale (inventory/gross.py changed); propose it again';
  const info = parseDiagnostic(message);
  assert.equal(info?.id, 4);
  assert.equal(info?.task, 'Add import: with_tax');
  assert.equal(info?.confidence, 0.55);
  assert.equal(info?.stale, true);
  assert.deepEqual(info?.evidence, ['parses ✓']);
  assert.equal(inlineFromDiagnostic(info!), 'Hexad #4 0.55 escalate · stale — parses ✓');
  assert.equal(parseDiagnostic('undefined name x'), undefined);
});
