/**
 * Which Python runs the server, and what to tell the user when Hexad is not in it.
 *
 * Order: the `hexad.python` setting; the Python extension's active environment; a
 * virtual environment in the workspace (`.venv`, `venv`); `python3` on the PATH.
 */

export type InterpreterSource = 'setting' | 'python-extension' | 'workspace-venv' | 'path';

export interface Interpreter {
  command: string;
  source: InterpreterSource;
}

export interface ResolveInput {
  /** `hexad.python`, as the user wrote it. */
  setting?: string;
  /** The Python extension's active environment for the workspace, if it has one. */
  pythonExtension?: string;
  workspaceFolder?: string;
  home?: string;
  env?: Record<string, string | undefined>;
  platform?: string;
  exists: (path: string) => boolean;
}

/** `${workspaceFolder}`, `${userHome}`, `${env:NAME}` and a leading `~`, then a path
 * relative to the workspace folder made absolute. */
export function expandVariables(
  value: string,
  vars: { workspaceFolder?: string; home?: string; env?: Record<string, string | undefined> },
): string {
  let out = value.trim();
  if (vars.home !== undefined && (out === '~' || out.startsWith('~/'))) {
    out = vars.home + out.slice(1);
  }
  out = out.replace(/\$\{(workspaceFolder|userHome|env:([A-Za-z_][A-Za-z0-9_]*))\}/g, (whole, name: string, envName?: string) => {
    if (name === 'workspaceFolder') {
      return vars.workspaceFolder ?? whole;
    }
    if (name === 'userHome') {
      return vars.home ?? whole;
    }
    return (envName !== undefined ? vars.env?.[envName] : undefined) ?? '';
  });
  const looksRelative = (out.startsWith('./') || out.startsWith('../')) && vars.workspaceFolder;
  if (looksRelative) {
    out = joinPath(vars.workspaceFolder as string, out);
  }
  return out;
}

export function venvCandidates(folder: string, platform = 'linux'): string[] {
  const windows = platform === 'win32';
  return ['.venv', 'venv', 'env'].map((name) =>
    windows ? joinPath(folder, `${name}/Scripts/python.exe`) : joinPath(folder, `${name}/bin/python`),
  );
}

export function resolveInterpreter(input: ResolveInput): Interpreter {
  const vars = { workspaceFolder: input.workspaceFolder, home: input.home, env: input.env };
  if (input.setting !== undefined && input.setting.trim() !== '') {
    return { command: expandVariables(input.setting, vars), source: 'setting' };
  }
  if (input.pythonExtension !== undefined && input.pythonExtension.trim() !== '') {
    return { command: input.pythonExtension, source: 'python-extension' };
  }
  if (input.workspaceFolder !== undefined) {
    for (const candidate of venvCandidates(input.workspaceFolder, input.platform)) {
      if (input.exists(candidate)) {
        return { command: candidate, source: 'workspace-venv' };
      }
    }
  }
  return { command: input.platform === 'win32' ? 'python' : 'python3', source: 'path' };
}

/** The arguments that start the server: `-m hexad serve` and any extra ones. */
export function serverArguments(extra: readonly string[] = []): string[] {
  return ['-m', 'hexad', 'serve', ...extra];
}

/** A script that says, as one JSON line, which Python this is and which Hexad it has. */
export const CHECK_SCRIPT = [
  'import json, sys',
  'info = {"python": sys.version.split()[0], "executable": sys.executable}',
  'try:',
  '    import hexad',
  '    info["hexad"] = getattr(hexad, "__version__", "?")',
  'except Exception as exc:',
  '    info["hexad"] = None',
  '    info["error"] = f"{type(exc).__name__}: {exc}"',
  'print(json.dumps(info))',
].join('\n');

export const MIN_PYTHON: readonly [number, number] = [3, 11];

export type CheckResult =
  | { ok: true; python: string; hexad: string; executable: string }
  | { ok: false; problem: 'no-python' | 'old-python' | 'no-hexad' | 'broken'; detail: string };

/** Read what CHECK_SCRIPT printed (or how starting it failed). */
export function parseCheck(
  stdout: string,
  exitCode: number | null,
  spawnError?: string,
): CheckResult {
  if (spawnError !== undefined) {
    return { ok: false, problem: 'no-python', detail: spawnError };
  }
  const line = stdout
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l.startsWith('{'))
    .pop();
  if (line === undefined) {
    return {
      ok: false,
      problem: exitCode === 127 ? 'no-python' : 'broken',
      detail: `exit code ${String(exitCode)}, no answer`,
    };
  }
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return { ok: false, problem: 'broken', detail: `unreadable answer: ${line}` };
  }
  const python = typeof info.python === 'string' ? info.python : '?';
  if (!versionAtLeast(python, MIN_PYTHON)) {
    return { ok: false, problem: 'old-python', detail: `Python ${python}` };
  }
  if (typeof info.hexad !== 'string') {
    const error = typeof info.error === 'string' ? info.error : 'hexad cannot be imported';
    return { ok: false, problem: 'no-hexad', detail: error };
  }
  return {
    ok: true,
    python,
    hexad: info.hexad,
    executable: typeof info.executable === 'string' ? info.executable : '',
  };
}

export function versionAtLeast(version: string, minimum: readonly [number, number]): boolean {
  const match = /^(\d+)\.(\d+)/.exec(version);
  if (match === null) {
    return false;
  }
  const [major, minor] = [Number(match[1]), Number(match[2])];
  return major > minimum[0] || (major === minimum[0] && minor >= minimum[1]);
}

const SOURCE_WORDS: Record<InterpreterSource, string> = {
  setting: 'the hexad.python setting',
  'python-extension': "the Python extension's active environment",
  'workspace-venv': "the workspace's virtual environment",
  path: 'python3 on the PATH',
};

export interface Guidance {
  /** One short sentence for the notification. */
  message: string;
  /** The command that would install Hexad into this interpreter, when that is the fix. */
  install?: string;
}

/** What to tell the user when the server cannot start from `interpreter`. */
export function guidance(interpreter: Interpreter, result: CheckResult): Guidance | undefined {
  if (result.ok) {
    return undefined;
  }
  const where = `${interpreter.command} (${SOURCE_WORDS[interpreter.source]})`;
  const quoted = /\s/.test(interpreter.command) ? `"${interpreter.command}"` : interpreter.command;
  switch (result.problem) {
    case 'no-python':
      return {
        message: `Hexad: cannot run ${where}: ${result.detail}. Set hexad.python or select a Python interpreter.`,
      };
    case 'old-python':
      return {
        message: `Hexad needs Python ${MIN_PYTHON.join('.')} or later; ${where} is ${result.detail}. Set hexad.python or select another interpreter.`,
      };
    case 'no-hexad':
      return {
        message: `Hexad is not installed in ${where}. Install it there, or set hexad.python to an interpreter that has it.`,
        install: `${quoted} -m pip install hexad`,
      };
    case 'broken':
      return { message: `Hexad: ${where} did not answer as expected (${result.detail}).` };
  }
}

function joinPath(folder: string, rel: string): string {
  const sep = folder.includes('\\') && !folder.includes('/') ? '\\' : '/';
  const parts = (folder.replace(/[\\/]+$/, '') + '/' + rel).split(/[\\/]+/);
  const out: string[] = [];
  for (const part of parts) {
    if (part === '..' && out.length > 1) {
      out.pop();
    } else if (part !== '.') {
      out.push(part);
    }
  }
  return out.join(sep);
}
