import assert from 'node:assert/strict';
import { test } from 'node:test';

import { codePointColumn, identifierAt, isIdentifier, workspaceRelative } from '../src/core/positions';

test('UTF-16 columns become code points', () => {
  assert.equal(codePointColumn('abc', 2), 2);
  // 😀 is two UTF-16 units, one code point
  assert.equal(codePointColumn('s = "😀"; total', 10), 9);
});

test('the identifier around the cursor', () => {
  assert.deepEqual(identifierAt('    return total_value(items)', 14), { word: 'total_value', start: 11 });
  assert.deepEqual(identifierAt('total_value', 0), { word: 'total_value', start: 0 });
  assert.deepEqual(identifierAt('x = größe + 1', 6), { word: 'größe', start: 4 });
  assert.equal(identifierAt('x = 12', 5), undefined);
  assert.equal(identifierAt('a + b', 2), undefined);
});

test('identifiers', () => {
  assert.equal(isIdentifier('stock_value'), true);
  assert.equal(isIdentifier('_x1'), true);
  assert.equal(isIdentifier('1x'), false);
  assert.equal(isIdentifier('a-b'), false);
  assert.equal(isIdentifier(''), false);
});

test('paths relative to the workspace', () => {
  assert.equal(workspaceRelative('/ws', '/ws/pkg/mod.py'), 'pkg/mod.py');
  assert.equal(workspaceRelative('/ws/', '/ws/mod.py'), 'mod.py');
  assert.equal(workspaceRelative('C:\\ws', 'C:\\ws\\pkg\\mod.py'), 'pkg/mod.py');
  assert.equal(workspaceRelative('/ws', '/wsx/mod.py'), undefined);
  assert.equal(workspaceRelative('/ws', '/other/mod.py'), undefined);
});
