/**
 * VS Code settings → the server's settings (`initializationOptions`).
 *
 * The server validates with pydantic (server/hexad/core/settings.py) and uses snake_case
 * keys; VS Code settings are camelCase under `hexad.`. Only values a user set are sent:
 * anything left out takes the server's default, so the two can never disagree on one.
 */

/** Read one setting; `undefined` when the user has not set it anywhere. */
export type SettingReader = (key: string) => unknown;

/** VS Code key (under `hexad.`) → the server's path in its settings object. */
export const SERVER_SETTINGS: ReadonlyArray<readonly [string, readonly string[]]> = [
  ['index.workers', ['index', 'workers']],
  ['index.watch', ['index', 'watch']],
  ['index.debounceMs', ['index', 'debounce_ms']],
  ['memory.enabled', ['memory', 'enabled']],
  ['memory.embedModel', ['memory', 'embed_model']],
  ['models', ['models']],
  ['jedi', ['jedi']],
  ['logLevel', ['log_level']],
  ['logFile', ['log_file']],
];

/** Settings whose change means a new server process. */
export const RESTART_SETTINGS = [
  'python',
  'server.args',
  ...SERVER_SETTINGS.map(([key]) => key),
];

const MODEL_KEYS: Record<string, string> = {
  remoteName: 'remote_name',
  nCtx: 'n_ctx',
  idleUnloadS: 'idle_unload_s',
  timeoutS: 'timeout_s',
  apiKeyEnv: 'api_key_env',
};

/** `{local: {path, nCtx}}` → `{local: {path, n_ctx}}`; snake_case keys pass as they are. */
export function modelsToServer(value: unknown): unknown {
  if (!isRecord(value)) {
    return value;
  }
  const out: Record<string, unknown> = {};
  for (const [name, model] of Object.entries(value)) {
    if (!isRecord(model)) {
      out[name] = model;
      continue;
    }
    const converted: Record<string, unknown> = {};
    for (const [key, v] of Object.entries(model)) {
      converted[MODEL_KEYS[key] ?? key] = v;
    }
    out[name] = converted;
  }
  return out;
}

/** The `initializationOptions` object for the server: only what was set, nested. */
export function toInitializationOptions(read: SettingReader): Record<string, unknown> {
  const options: Record<string, unknown> = {};
  for (const [key, path] of SERVER_SETTINGS) {
    let value = read(key);
    if (value === undefined || value === null || value === '') {
      continue;
    }
    if (key === 'models') {
      value = modelsToServer(value);
      if (isRecord(value) && Object.keys(value).length === 0) {
        continue;
      }
    }
    setPath(options, path, value);
  }
  return options;
}

/** Whether a configuration change needs the server restarted. */
export function needsRestart(affects: (section: string) => boolean, section = 'hexad'): boolean {
  return RESTART_SETTINGS.some((key) => affects(`${section}.${key}`));
}

/** Extra arguments after `-m hexad serve`, from `hexad.server.args`. */
export function serverArgs(value: unknown): string[] {
  if (!Array.isArray(value)) {
    return [];
  }
  return value.filter((v): v is string => typeof v === 'string' && v.length > 0);
}

function setPath(target: Record<string, unknown>, path: readonly string[], value: unknown): void {
  let node = target;
  for (const part of path.slice(0, -1)) {
    const next = node[part];
    if (!isRecord(next)) {
      node[part] = {};
    }
    node = node[part] as Record<string, unknown>;
  }
  node[path[path.length - 1]] = value;
}

export function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
