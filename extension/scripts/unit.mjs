// Unit tests: each test/*.test.ts bundled by esbuild (they import only src/core, never
// `vscode`), then run by node's own test runner.
import { readdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const out = join(root, 'out', 'unit');
rmSync(out, { recursive: true, force: true });
const only = process.argv.slice(2);
const tests = readdirSync(join(root, 'test'))
  .filter((f) => f.endsWith('.test.ts'))
  .filter((f) => only.length === 0 || only.some((o) => f.includes(o)));
await esbuild.build({
  entryPoints: tests.map((f) => join(root, 'test', f)),
  bundle: true,
  outdir: out,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  sourcemap: 'inline',
  // a unit test that reaches `vscode` is a test of the wrong module
  plugins: [
    {
      name: 'no-vscode',
      setup(build) {
        build.onResolve({ filter: /^vscode$/ }, (args) => ({
          errors: [{ text: `${args.importer} imports vscode: unit tests cover src/core only` }],
        }));
      },
    },
  ],
  logLevel: 'warning',
});
const files = tests.map((f) => join(out, f.replace(/\.ts$/, '.js')));
const run = spawnSync(process.execPath, ['--enable-source-maps', '--test', '--test-reporter=spec', ...files], {
  stdio: 'inherit',
  cwd: root,
  env: { ...process.env, HEXAD_EXTENSION_ROOT: root },
});
process.exit(run.status ?? 1);
