import assert from 'node:assert/strict';
import { test } from 'node:test';

import {
  CHECK_SCRIPT,
  expandVariables,
  guidance,
  parseCheck,
  resolveInterpreter,
  serverArguments,
  venvCandidates,
  versionAtLeast,
} from '../src/core/interpreter';

const none = () => false;

test('the hexad.python setting wins, with variables expanded', () => {
  const found = resolveInterpreter({
    setting: '${workspaceFolder}/.venv/bin/python',
    pythonExtension: '/usr/bin/python3.12',
    workspaceFolder: '/ws',
    exists: () => true,
  });
  assert.deepEqual(found, { command: '/ws/.venv/bin/python', source: 'setting' });
});

test('then the Python extension, then a workspace venv, then python3 on the PATH', () => {
  assert.deepEqual(resolveInterpreter({ pythonExtension: '/opt/py/bin/python', workspaceFolder: '/ws', exists: none }), {
    command: '/opt/py/bin/python',
    source: 'python-extension',
  });
  assert.deepEqual(
    resolveInterpreter({ workspaceFolder: '/ws', exists: (p) => p === '/ws/venv/bin/python' }),
    { command: '/ws/venv/bin/python', source: 'workspace-venv' },
  );
  assert.deepEqual(resolveInterpreter({ workspaceFolder: '/ws', exists: none }), { command: 'python3', source: 'path' });
  assert.deepEqual(resolveInterpreter({ exists: none, platform: 'win32' }), { command: 'python', source: 'path' });
  // a blank setting is no setting
  assert.equal(resolveInterpreter({ setting: '  ', exists: none }).source, 'path');
});

test('variables: ~, ${userHome}, ${env:NAME}, and paths relative to the workspace', () => {
  const vars = { workspaceFolder: '/ws/project', home: '/home/me', env: { PYENV: '/opt/pyenv' } };
  assert.equal(expandVariables('~/venvs/h/bin/python', vars), '/home/me/venvs/h/bin/python');
  assert.equal(expandVariables('${userHome}/bin/python', vars), '/home/me/bin/python');
  assert.equal(expandVariables('${env:PYENV}/shims/python', vars), '/opt/pyenv/shims/python');
  assert.equal(expandVariables('${env:MISSING}/python', vars), '/python');
  assert.equal(expandVariables('./.venv/bin/python', vars), '/ws/project/.venv/bin/python');
  assert.equal(expandVariables('../shared/bin/python', vars), '/ws/shared/bin/python');
  assert.equal(expandVariables('python3.12', vars), 'python3.12');
});

test('venv candidates follow the platform', () => {
  assert.deepEqual(venvCandidates('/ws'), ['/ws/.venv/bin/python', '/ws/venv/bin/python', '/ws/env/bin/python']);
  assert.equal(venvCandidates('C:\\ws', 'win32')[0], 'C:\\ws\\.venv\\Scripts\\python.exe');
});

test('the server starts as -m hexad serve with extra arguments after', () => {
  assert.deepEqual(serverArguments(), ['-m', 'hexad', 'serve']);
  assert.deepEqual(serverArguments(['--verbose']), ['-m', 'hexad', 'serve', '--verbose']);
});

test('reading the check: ok, no hexad, old python, no python, garbage', () => {
  const ok = parseCheck('{"python": "3.11.7", "executable": "/v/bin/python", "hexad": "0.1.0"}\n', 0);
  assert.deepEqual(ok, { ok: true, python: '3.11.7', hexad: '0.1.0', executable: '/v/bin/python' });
  const missing = parseCheck(
    'warning: something\n{"python": "3.12.1", "executable": "/usr/bin/python3", "hexad": null, "error": "ModuleNotFoundError: No module named \'hexad\'"}',
    0,
  );
  assert.deepEqual(missing, { ok: false, problem: 'no-hexad', detail: "ModuleNotFoundError: No module named 'hexad'" });
  assert.deepEqual(parseCheck('{"python": "3.9.2", "hexad": "0.1.0"}', 0), {
    ok: false,
    problem: 'old-python',
    detail: 'Python 3.9.2',
  });
  assert.equal(parseCheck('', null, '/nope not found').ok, false);
  assert.deepEqual(parseCheck('', null, '/nope not found'), { ok: false, problem: 'no-python', detail: '/nope not found' });
  assert.equal((parseCheck('Traceback…', 1) as { problem: string }).problem, 'broken');
  assert.equal((parseCheck('{oops', 0) as { problem: string }).problem, 'broken');
});

test('versions compare by major and minor', () => {
  assert.equal(versionAtLeast('3.11.0', [3, 11]), true);
  assert.equal(versionAtLeast('3.13.1', [3, 11]), true);
  assert.equal(versionAtLeast('4.0', [3, 11]), true);
  assert.equal(versionAtLeast('3.10.12', [3, 11]), false);
  assert.equal(versionAtLeast('?', [3, 11]), false);
});

test('guidance says where the interpreter came from and how to install hexad', () => {
  const interpreter = { command: '/ws/.venv/bin/python', source: 'workspace-venv' as const };
  const advice = guidance(interpreter, { ok: false, problem: 'no-hexad', detail: 'x' });
  assert.equal(
    advice?.message,
    "Hexad is not installed in /ws/.venv/bin/python (the workspace's virtual environment). Install it there, or set hexad.python to an interpreter that has it.",
  );
  assert.equal(advice?.install, '/ws/.venv/bin/python -m pip install hexad');
  const spaced = guidance({ command: '/my envs/python', source: 'setting' }, { ok: false, problem: 'no-hexad', detail: 'x' });
  assert.equal(spaced?.install, '"/my envs/python" -m pip install hexad');
  const old = guidance({ command: 'python3', source: 'path' }, { ok: false, problem: 'old-python', detail: 'Python 3.9.2' });
  assert.match(old?.message ?? '', /needs Python 3\.11 or later; python3 \(python3 on the PATH\) is Python 3\.9\.2/);
  assert.equal(old?.install, undefined);
  assert.equal(guidance(interpreter, { ok: true, python: '3.11', hexad: '1', executable: '' }), undefined);
});

test('the check script is valid Python that prints one JSON line', () => {
  assert.match(CHECK_SCRIPT, /^import json, sys/);
  assert.match(CHECK_SCRIPT, /print\(json\.dumps\(info\)\)$/);
});
