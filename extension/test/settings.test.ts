import assert from 'node:assert/strict';
import { test } from 'node:test';

import { modelsToServer, needsRestart, serverArgs, toInitializationOptions } from '../src/core/settings';

function reader(values: Record<string, unknown>) {
  return (key: string) => values[key];
}

test('only the settings a user set are sent, nested and in snake_case', () => {
  const options = toInitializationOptions(
    reader({
      'index.workers': 2,
      'index.debounceMs': 500,
      'memory.enabled': false,
      jedi: false,
      logLevel: 'debug',
    }),
  );
  assert.deepEqual(options, {
    index: { workers: 2, debounce_ms: 500 },
    memory: { enabled: false },
    jedi: false,
    log_level: 'debug',
  });
});

test('nothing set sends an empty object (the server keeps its defaults)', () => {
  assert.deepEqual(toInitializationOptions(reader({})), {});
});

test('empty strings, nulls and empty model tables are left out', () => {
  const options = toInitializationOptions(
    reader({ logFile: '', 'memory.embedModel': null, models: {}, 'index.watch': false }),
  );
  assert.deepEqual(options, { index: { watch: false } });
});

test('model settings take camelCase or snake_case keys', () => {
  assert.deepEqual(
    modelsToServer({ local: { path: '/m.gguf', nCtx: 2048, idleUnloadS: 0 }, remote: { url: 'http://x/v1', remote_name: 'q' } }),
    { local: { path: '/m.gguf', n_ctx: 2048, idle_unload_s: 0 }, remote: { url: 'http://x/v1', remote_name: 'q' } },
  );
  assert.equal(modelsToServer('nonsense'), 'nonsense');
  const options = toInitializationOptions(reader({ models: { local: { path: '/m.gguf', apiKeyEnv: 'KEY' } } }));
  assert.deepEqual(options, { models: { local: { path: '/m.gguf', api_key_env: 'KEY' } } });
});

test('a change of a server setting, the interpreter or the arguments restarts the server', () => {
  const changed = (...keys: string[]) => (section: string) => keys.includes(section);
  assert.equal(needsRestart(changed('hexad.index.workers')), true);
  assert.equal(needsRestart(changed('hexad.python')), true);
  assert.equal(needsRestart(changed('hexad.server.args')), true);
  assert.equal(needsRestart(changed('hexad.models')), true);
  // the trace is the client's, the review UI's settings are read when used
  assert.equal(needsRestart(changed('hexad.trace.server')), false);
  assert.equal(needsRestart(changed('hexad.review.inlineConfidence')), false);
  assert.equal(needsRestart(changed('editor.fontSize')), false);
});

test('server arguments keep only non-empty strings', () => {
  assert.deepEqual(serverArgs(['--log', '', 3, 'x']), ['--log', 'x']);
  assert.deepEqual(serverArgs('--log'), []);
  assert.deepEqual(serverArgs(undefined), []);
});
