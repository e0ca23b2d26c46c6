import assert from 'node:assert/strict';
import { test } from 'node:test';

import { cacheKey, changesTitle, diffPath, diffTitle, parseDiffPath, serverDiffFile } from '../src/core/diffUri';

test('a diff path round-trips', () => {
  const ref = { id: 7, side: 'after' as const, path: 'inventory/stock.py' };
  assert.equal(diffPath(ref), '/7/after/inventory/stock.py');
  assert.deepEqual(parseDiffPath(diffPath(ref)), ref);
  assert.equal(cacheKey(ref), '/7/after/inventory/stock.py');
});

test('windows separators and leading slashes are normalised', () => {
  assert.equal(diffPath({ id: 1, side: 'before', path: '\\pkg\\mod.py' }), '/1/before/pkg/mod.py');
});

test('anything else is not a diff path', () => {
  assert.equal(parseDiffPath('/x/before/a.py'), undefined);
  assert.equal(parseDiffPath('/1/middle/a.py'), undefined);
  assert.equal(parseDiffPath('/1/before/'), undefined);
});

test('diff titles name the proposal, the file and the confidence', () => {
  assert.equal(diffTitle(3, 'Rename a to b', 'pkg/mod.py', 0.912, 'proceed'), 'Hexad #3 Rename a to b: mod.py (0.91 proceed)');
  assert.equal(diffTitle(3, 'Rename a to b', 'mod.py'), 'Hexad #3 Rename a to b: mod.py');
  assert.equal(changesTitle(3, 'Rename a to b', 0.874, 'review'), 'Hexad #3 Rename a to b (0.87 review)');
  assert.equal(changesTitle(3, 'Rename a to b'), 'Hexad #3 Rename a to b');
});

test("the server's unified diff files are recognised", () => {
  assert.equal(serverDiffFile('file:///ws/.hexad/proposals/12.diff'), 12);
  assert.equal(serverDiffFile('file:///ws/src/12.diff'), undefined);
});
