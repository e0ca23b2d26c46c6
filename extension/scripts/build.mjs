// Bundle the extension with esbuild (dist/extension.js) and ship the policy schema.
//   node scripts/build.mjs [--production] [--watch]
import { copyFileSync, existsSync, mkdirSync, rmSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as esbuild from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const production = process.argv.includes('--production');
const watch = process.argv.includes('--watch');

// The JSON Schema generated from the server's pydantic models (`hexad policy schema
// --write` keeps policies/schema.json current; the Python suite checks it).
const schema = join(root, '..', 'policies', 'schema.json');
if (!existsSync(schema)) {
  console.error(`build: ${schema} is missing; run \`hexad policy schema --write\``);
  process.exit(1);
}
mkdirSync(join(root, 'schemas'), { recursive: true });
copyFileSync(schema, join(root, 'schemas', 'policy.schema.json'));

rmSync(join(root, 'dist'), { recursive: true, force: true });

const options = {
  entryPoints: [join(root, 'src', 'extension.ts')],
  bundle: true,
  outfile: join(root, 'dist', 'extension.js'),
  external: ['vscode'],
  format: 'cjs',
  platform: 'node',
  target: 'node18',
  sourcemap: !production,
  minify: production,
  logLevel: 'warning',
};

if (watch) {
  const context = await esbuild.context(options);
  await context.watch();
  console.log('build: watching');
} else {
  const result = await esbuild.build({ ...options, metafile: true });
  const bytes = Object.values(result.metafile.outputs).reduce((n, o) => n + o.bytes, 0);
  console.log(`build: dist/extension.js (${(bytes / 1024).toFixed(0)} KiB${production ? ', minified' : ''})`);
}
