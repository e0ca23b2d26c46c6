import assert from 'node:assert/strict';
import { test } from 'node:test';

import { asksForTask, PlanBook, planArguments, planCounts, planMarkdown, runFromEntry, runStatus, stepIcon } from '../src/core/plans';
import type { PlanAnswer } from '../src/core/protocol';

function answer(run = 'r1'): PlanAnswer {
  return {
    run,
    status: 'approved',
    markdown: '',
    plan: {
      task: 'Change the signature of restock',
      planner: 'deterministic:change_signature',
      summary: 'Two steps.',
      steps: [
        { id: 1, title: 'Change restock', status: 'pending', why: 'the definition first' },
        { id: 2, title: 'Update 3 callers', status: 'pending', depends_on: [1] },
      ],
    },
  };
}

test('progress notifications update a step and the run', () => {
  const book = new PlanBook();
  book.record(answer());
  assert.equal(book.progress({ run: 'r1', step: 1, of: 2, title: '', status: 'running' }), true);
  assert.equal(book.get('r1')?.status, 'running');
  book.progress({ run: 'r1', step: 1, of: 2, title: '', status: 'done', proposal: 4 });
  book.progress({ run: 'r1', step: 2, of: 2, title: '', status: 'failed', detail: 'verification failed: tests ✗' });
  const run = book.get('r1')!;
  assert.equal(run.status, 'failed');
  assert.equal(run.plan.steps[0].proposal, 4);
  assert.deepEqual(planCounts(run.plan), { done: 1, failed: 1, total: 2 });
  assert.match(run.markdown, /✗ \*\*2\. Update 3 callers\*\* \(after 1\)\n {3}- failed: verification failed: tests ✗/);
});

test('notifications about unknown plans or steps are ignored', () => {
  const book = new PlanBook();
  book.record(answer());
  assert.equal(book.progress({ run: 'other', step: 1, of: 2, title: '', status: 'done' }), false);
  assert.equal(book.progress({ run: null, step: 1, of: 2, title: '', status: 'done' }), false);
  assert.equal(book.progress({ run: 'r1', step: 9, of: 2, title: '', status: 'done' }), false);
});

test('newest plan first; recording a run again replaces it', () => {
  const book = new PlanBook();
  book.record(answer('a'));
  book.record(answer('b'));
  assert.deepEqual(book.all().map((r) => r.run), ['b', 'a']);
  book.record({ ...answer('a'), status: 'done' });
  assert.deepEqual(book.all().map((r) => [r.run, r.status]), [
    ['a', 'done'],
    ['b', 'approved'],
  ]);
  book.setStatus('b', 'running');
  assert.equal(book.get('b')?.status, 'running');
});

test('the run status from its steps', () => {
  const steps = (...s: string[]) => ({ task: 't', planner: 'p', steps: s.map((status, i) => ({ id: i + 1, title: 't', status })) });
  assert.equal(runStatus(steps('pending', 'pending'), 'approved'), 'approved');
  assert.equal(runStatus(steps('done', 'pending'), 'approved'), 'running');
  assert.equal(runStatus(steps('done', 'skipped'), 'running'), 'done');
  assert.equal(runStatus(steps('done', 'cancelled'), 'running'), 'cancelled');
  assert.equal(runStatus(steps('failed', 'pending'), 'running'), 'failed');
});

test('markdown like the server writes it', () => {
  const md = planMarkdown(answer().plan);
  assert.equal(
    md,
    '# Plan: Change the signature of restock\n\nTwo steps.\n\n*deterministic:change_signature planner, 2 steps*\n\n' +
      '☐ **1. Change restock**\n   the definition first\n\n☐ **2. Update 3 callers** (after 1)\n',
  );
  assert.equal(stepIcon('running'), 'sync~spin');
  assert.equal(stepIcon('skipped'), 'debug-step-over');
});

test('a "Plan a task here…" action gets the typed task; other plan calls pass unchanged', () => {
  const focus = { path: 'inventory/report.py', line: 10 };
  assert.equal(asksForTask([{ ask: true, focus }]), true);
  assert.deepEqual(planArguments([{ ask: true, focus }], '  add a floor parameter  '), [
    { focus, task: 'add a floor parameter' },
  ]);
  assert.equal(planArguments([{ ask: true, focus }], '   '), undefined);
  assert.equal(planArguments([{ ask: true, focus }]), undefined);
  const comment = [{ task: 'add a floor parameter to low_stock', focus }];
  assert.equal(asksForTask(comment), false);
  assert.deepEqual(planArguments(comment), comment);
  assert.deepEqual(planArguments([]), []);
});

test('runs listed by hexad.plans join the book, newest first, their steps in the view shape', () => {
  const book = new PlanBook();
  book.record(answer('mine'));
  const entry = (run: string, status: string, running = false) => ({
    run,
    task: `task ${run}`,
    status,
    planner: 'deterministic:add_parameter',
    markdown: `# Plan: task ${run}\n`,
    running,
    steps: [
      { id: 1, title: 'Add floor', status: 'done', detail: null, proposal: 7, dependsOn: [] },
      { id: 2, title: 'Thread it', status: 'pending', dependsOn: [1] },
    ],
  });
  // hexad.plans lists the newest first
  book.load([entry('new', 'approved'), entry('old', 'done')]);
  assert.deepEqual(book.all().map((r) => r.run), ['new', 'old', 'mine']);
  const listed = book.get('new')!;
  assert.equal(listed.plan.task, 'task new');
  assert.deepEqual(listed.plan.steps[0], {
    id: 1,
    title: 'Add floor',
    status: 'done',
    detail: null,
    proposal: 7,
    depends_on: [],
  });
  assert.deepEqual(listed.plan.steps[1].depends_on, [1]);
  assert.deepEqual(runFromEntry(entry('x', 'paused', true)).status, 'running');
  // a run this session saw running keeps its state until the server says it runs no more
  book.setStatus('mine', 'running');
  book.load([{ ...entry('mine', 'approved'), running: false }]);
  assert.equal(book.get('mine')?.status, 'running');
});
