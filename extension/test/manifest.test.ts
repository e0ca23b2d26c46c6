import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';

import { Command, PROPOSALS_VIEW, PROPOSAL_SCHEME, Setting, VIEW_CONTAINER } from '../src/core/constants';
import { RESTART_SETTINGS, SERVER_SETTINGS } from '../src/core/settings';

const root = process.env.HEXAD_EXTENSION_ROOT ?? process.cwd();
const pkg = JSON.parse(readFileSync(join(root, 'package.json'), 'utf-8'));
const contributes = pkg.contributes;
const properties: Record<string, { default?: unknown }> = contributes.configuration.properties;

test('every command of the extension is contributed, and nothing else is', () => {
  const contributed = contributes.commands.map((c: { command: string }) => c.command).sort();
  assert.deepEqual(contributed, Object.values(Command).sort());
});

test('every setting read is contributed', () => {
  const keys = [...Object.values(Setting), ...SERVER_SETTINGS.map(([k]) => k), ...RESTART_SETTINGS];
  for (const key of keys) {
    assert.ok(`hexad.${key}` in properties, `hexad.${key} is not in package.json`);
  }
  // the language client reads the trace from <client id>.trace.server
  assert.deepEqual((properties['hexad.trace.server'] as { enum: string[] }).enum, ['off', 'messages', 'verbose']);
});

test('menus name contributed commands, the view and the diff scheme', () => {
  const known = new Set(Object.values(Command));
  for (const [menu, items] of Object.entries(contributes.menus as Record<string, { command: string; when?: string }[]>)) {
    for (const item of items) {
      assert.ok(known.has(item.command as never), `${menu}: ${item.command}`);
    }
  }
  assert.equal(contributes.views[VIEW_CONTAINER][0].id, PROPOSALS_VIEW);
  const title = contributes.menus['editor/title'] as { command: string; when: string }[];
  assert.ok(title.every((i) => i.when === `resourceScheme == ${PROPOSAL_SCHEME}`));
  assert.deepEqual(
    title.map((i) => i.command),
    [Command.acceptProposal, Command.rejectProposal],
  );
});

test('policy files are validated by Even Better TOML with the shipped schema', () => {
  assert.deepEqual(
    contributes.tomlValidation.map((v: { fileMatch: string }) => v.fileMatch),
    ['.hexad/policies/*.toml', 'hexad/policy.toml'],
  );
  assert.ok(contributes.tomlValidation.every((v: { url: string }) => v.url === './schemas/policy.schema.json'));
});

test('scripts for every check', () => {
  for (const script of ['build', 'typecheck', 'lint', 'test', 'package', 'e2e']) {
    assert.ok(script in pkg.scripts, script);
  }
  assert.equal(pkg.main, './dist/extension.js');
});
