import assert from 'node:assert/strict';
import { test } from 'node:test';

import { commandToRun } from '../src/core/actions';

const review = { title: 'Review proposal #4', command: 'hexad.review', arguments: [{ id: 4 }] };

test("a resolved action's hexad command is run by the extension", () => {
  assert.deepEqual(commandToRun({ command: review }), review);
  const accept = { title: 'Accept proposal', command: 'hexad.accept', arguments: [{ id: 4 }] };
  assert.deepEqual(commandToRun({ command: accept }), accept);
});

test('actions with an edit, without a command, or with another command are left alone', () => {
  assert.equal(commandToRun({ command: review, edit: { changes: {} } }), undefined);
  assert.equal(commandToRun({}), undefined);
  assert.equal(commandToRun(undefined), undefined);
  assert.equal(commandToRun(null), undefined);
  assert.equal(commandToRun({ command: { title: 'Organize', command: 'editor.action.organizeImports' } }), undefined);
});
