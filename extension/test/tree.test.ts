import assert from 'node:assert/strict';
import { test } from 'node:test';

import { Command } from '../src/core/constants';
import { PlanBook } from '../src/core/plans';
import { buildTree, findNode, parentOf, proposalContext, proposalTooltip, sortProposals } from '../src/core/tree';
import { proposal } from './fixtures';

test('the view has a Proposals and a Plans section', () => {
  const tree = buildTree([], []);
  assert.deepEqual(
    tree.map((n) => [n.id, n.label, n.description]),
    [
      ['proposals', 'Proposals', 'none yet'],
      ['plans', 'Plans', 'none yet'],
    ],
  );
});

test('a proposal shows its confidence, decision and status, and opens its diff', () => {
  const [section] = buildTree([proposal()], []);
  assert.equal(section.description, '1 to review');
  const node = section.children![0];
  assert.equal(node.id, 'proposal/3');
  assert.equal(node.label, '0.91 #3 Rename total_value to stock_value');
  assert.equal(node.description, 'proceed · proposed');
  assert.equal(node.icon, 'pass');
  assert.equal(node.color, 'testing.iconPassed');
  assert.equal(node.contextValue, 'proposal.proposed.acceptable');
  assert.deepEqual(node.command, { command: Command.openDiff, title: 'Show the change', arguments: [{ id: 3 }] });
  // children: each file (opening that file's diff), the checks, the evidence
  const labels = node.children!.map((c) => c.label);
  assert.deepEqual(labels.slice(0, 4), ['inventory/stock.py', 'inventory/report.py', 'syntax', 'tests']);
  assert.deepEqual(node.children![1].command?.arguments, [{ id: 3, path: 'inventory/report.py' }]);
  assert.equal(node.children![3].description, '2/2 tests pass');
  assert.equal(labels[4], '+1.10 2/2 affected tests pass');
});

test('what can be done with a proposal follows its status and verification', () => {
  assert.equal(proposalContext(proposal()), 'proposal.proposed.acceptable');
  const failed = proposal({ verification: { passed: false, summary: 'tests ✗', checks: [] } });
  assert.equal(proposalContext(failed), 'proposal.proposed');
  assert.equal(proposalContext(proposal({ status: 'stale' })), 'proposal.stale');
  assert.equal(proposalContext(proposal({ status: 'rejected' })), 'proposal.rejected');
});

test('proposed first, newest first; settled ones below with their status icon', () => {
  const sorted = sortProposals([
    proposal({ id: 1, status: 'rejected' }),
    proposal({ id: 2 }),
    proposal({ id: 5, status: 'applied' }),
    proposal({ id: 4 }),
    proposal({ id: 6, status: 'stale' }),
  ]);
  assert.deepEqual(
    sorted.map((p) => p.id),
    [4, 2, 6, 5, 1],
  );
  const [section] = buildTree(sorted, []);
  assert.equal(section.description, '2 to review');
  assert.equal(findNode([section], 'proposal/1')?.icon, 'close');
  assert.equal(findNode([section], 'proposal/1')?.color, undefined);
});

test('the tooltip carries the thresholds, evidence and governance reasons', () => {
  const tip = proposalTooltip(
    proposal({
      trust: { ...proposal().trust, decision: 'review' },
      policy: { effect: 'require_approval', reasons: [{ rule: 'builtin:public-api', effect: 'require_approval', why: 'public API changes are reviewed' }] },
    }),
  );
  assert.match(tip, /Confidence \*\*0\.91\*\* \(91%\) → \*\*review\*\* \(proceed at ≥ 0\.93, escalate below 0\.20\)/);
  assert.match(tip, /- \+1\.10 2\/2 affected tests pass/);
  assert.match(tip, /Governance: \*\*require\\_approval\*\*/);
  assert.match(tip, /- public API changes are reviewed/);
  // markdown in a task name is escaped
  assert.match(proposalTooltip(proposal({ task: 'Rename __init__' })), /Rename \\_\\_init\\_\\_/);
});

test('plans show their steps and status; a step with a proposal reveals it', () => {
  const book = new PlanBook();
  book.record({
    run: 'r1',
    status: 'approved',
    markdown: '# Plan',
    plan: {
      task: 'Add timeout to fetch',
      planner: 'deterministic:add_parameter',
      steps: [
        { id: 1, title: 'Add the parameter', status: 'pending' },
        { id: 2, title: 'Update callers', status: 'pending', depends_on: [1] },
      ],
    },
  });
  book.progress({ run: 'r1', step: 1, of: 2, title: 'Add the parameter', status: 'done', proposal: 9 });
  const tree = buildTree([], book.all());
  const plan = findNode(tree, 'plan/r1')!;
  assert.equal(plan.label, 'Add timeout to fetch');
  assert.equal(plan.description, 'running · 1/2 done');
  assert.equal(plan.contextValue, 'plan.running');
  assert.equal(plan.collapsible, 'expanded');
  assert.deepEqual(
    plan.children!.map((s) => [s.label, s.description, s.icon]),
    [
      ['1. Add the parameter', 'done', 'pass'],
      ['2. Update callers', 'pending', 'circle-large-outline'],
    ],
  );
  assert.deepEqual(plan.children![0].command?.arguments, [{ id: 9 }]);
  assert.equal(plan.children![1].command, undefined);
  assert.equal(parentOf(tree, 'plan/r1/step/2')?.id, 'plan/r1');
  assert.equal(parentOf(tree, 'plan/r1')?.id, 'plans');
  assert.equal(parentOf(tree, 'plans'), undefined);
});
