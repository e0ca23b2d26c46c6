// End-to-end: the packaged extension (hexad.vsix) in a real VS Code (code-server, from
// the npm registry) driven by a real browser (Debian's Chromium through playwright-core),
// on a copy of tests/fixtures/exec_workspace.
//
//   node scripts/e2e.mjs [--screenshots DIR] [--update-media] [--keep]
//
// Environment: HEXAD_PYTHON (default ../.venv/bin/python), HEXAD_CODE_SERVER_CACHE,
// CHROMIUM (default /usr/bin/chromium). Exit 0 on success; 77 when the harness cannot
// be installed here (no registry, no Debian packages); 1 on a failure.
import { execFileSync, spawn } from 'node:child_process';
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const repo = resolve(root, '..');
const args = process.argv.slice(2);
const option = (name) => {
  const i = args.indexOf(name);
  return i >= 0 ? args[i + 1] : undefined;
};
const updateMedia = args.includes('--update-media');
const keep = args.includes('--keep');
const python = process.env.HEXAD_PYTHON ?? join(repo, '.venv', 'bin', 'python');
const chromiumPath = process.env.CHROMIUM ?? '/usr/bin/chromium';
const vsix = join(root, 'hexad.vsix');
const TIMEOUT = 90_000;
// a row of the Hexad view: `0.96 #1 Extract … proceed · proposed`
const CONFIDENCE = /^0\.\d\d #\d+ .*(proceed|review|escalate) · proposed/;
const started = Date.now();

function log(message) {
  console.log(`e2e [${((Date.now() - started) / 1000).toFixed(1)} s] ${message}`);
}

function skip(message) {
  console.log(`e2e: SKIPPED: ${message}`);
  process.exit(77);
}

if (!existsSync(vsix)) {
  console.error('e2e: hexad.vsix is missing: run `npm run package` first');
  process.exit(1);
}
if (!existsSync(python)) {
  console.error(`e2e: no Python at ${python} (set HEXAD_PYTHON, or run scripts/setup.sh)`);
  process.exit(1);
}

// -- the harness ---------------------------------------------------------------------
let entry;
try {
  entry = execFileSync('bash', [join(root, 'scripts', 'code-server.sh')], {
    encoding: 'utf-8',
    stdio: ['ignore', 'pipe', 'inherit'],
  }).trim().split('\n').pop();
} catch (error) {
  if (error.status === 3) {
    // code-server.sh said which Debian packages are missing and why it cannot install them
    skip('the harness needs Debian packages that cannot be installed here (see above)');
  }
  console.error(`e2e: FAILED: installing the harness (code-server.sh exit ${error.status})`);
  process.exit(1);
}
if (!existsSync(chromiumPath)) {
  console.error(`e2e: FAILED: no Chromium at ${chromiumPath}`);
  process.exit(1);
}
const { chromium } = await import('playwright-core');
log(`code-server: ${entry}`);

const work = mkdtempSync(join(tmpdir(), 'hexad-e2e-'));
const workspace = join(work, 'ws');
const userData = join(work, 'user');
const extensions = join(work, 'extensions');
const shots = option('--screenshots') ?? join(work, 'screenshots');
mkdirSync(shots, { recursive: true });
cpSync(join(repo, 'tests', 'fixtures', 'exec_workspace'), workspace, {
  recursive: true,
  filter: (src) => !src.includes('.hexad') && !src.includes('__pycache__'),
});
mkdirSync(join(workspace, '.hexad', 'policies'), { recursive: true });
writeFileSync(join(workspace, '.hexad', 'policies', 'team.toml'), 'version = 1\n\n[budgets]\n');
mkdirSync(join(workspace, '.vscode'), { recursive: true });
writeFileSync(join(workspace, '.vscode', 'settings.json'), JSON.stringify({ 'hexad.python': python }, null, 2));
mkdirSync(join(userData, 'User'), { recursive: true });
writeFileSync(
  join(userData, 'User', 'settings.json'),
  JSON.stringify(
    {
      'workbench.startupEditor': 'none',
      'workbench.tips.enabled': false,
      'workbench.welcomePage.walkthroughs.openOnInstall': false,
      'security.workspace.trust.enabled': false,
      'extensions.autoUpdate': false,
      'extensions.autoCheckUpdates': false,
      'extensions.ignoreRecommendations': true,
      'telemetry.telemetryLevel': 'off',
      'update.mode': 'none',
      'editor.minimap.enabled': false,
      'window.commandCenter': false,
      'workbench.colorTheme': 'Default Light Modern',
      'chat.commandCenter.enabled': false,
      'hexad.index.watch': false,
      'hexad.trace.server': process.env.HEXAD_E2E_TRACE ?? 'off',
    },
    null,
    2,
  ),
);

writeFileSync(join(work, 'code-server.yaml'), 'auth: none\n');
const codeServer = ['--config', join(work, 'code-server.yaml'), '--user-data-dir', userData, '--extensions-dir', extensions];
log('installing hexad.vsix');
execFileSync(process.execPath, [entry, ...codeServer, '--install-extension', vsix], { stdio: 'inherit' });

const port = await freePort();
const server = spawn(
  process.execPath,
  [entry, ...codeServer, '--auth', 'none', '--bind-addr', `127.0.0.1:${port}`, '--disable-telemetry',
    '--disable-update-check', '--disable-workspace-trust', '--disable-getting-started-override', workspace],
  { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, VSCODE_PROXY_URI: '', HEXAD_SHADOW_DIR: join(work, 'shadow') } },
);
let serverLog = '';
server.stdout.on('data', (d) => (serverLog += d));
server.stderr.on('data', (d) => (serverLog += d));
await waitForHttp(`http://127.0.0.1:${port}/healthz`, 60_000);
log(`code-server on port ${port}`);

const browser = await chromium.launch({
  executablePath: chromiumPath,
  args: ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update',
    '--disable-sync', '--no-first-run', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1680, height: 900 } });
const page = await context.newPage();
page.setDefaultTimeout(TIMEOUT);
let failed = false;
try {
  await scenario(page);
  log('PASSED');
} catch (error) {
  failed = true;
  console.error(`e2e: FAILED: ${error.stack ?? error}`);
  await page.screenshot({ path: join(shots, 'failure.png') }).catch(() => {});
  console.error(`e2e: screenshot at ${join(shots, 'failure.png')}`);
  console.error(`e2e: code-server log (tail):\n${serverLog.slice(-3000)}`);
  const hexadLog = await outputLog().catch(() => '');
  if (hexadLog) {
    console.error(`e2e: Hexad output channel (tail):\n${hexadLog.slice(-4000)}`);
  }
} finally {
  await browser.close().catch(() => {});
  server.kill('SIGTERM');
  if (!keep && !failed) {
    rmSync(work, { recursive: true, force: true });
  } else {
    console.log(`e2e: kept ${work}`);
  }
}
log(`done in ${((Date.now() - started) / 1000).toFixed(1)} s`);
process.exit(failed ? 1 : 0);

// -- the scenario --------------------------------------------------------------------


async function scenario(page) {
  await page.goto(`http://127.0.0.1:${port}/?folder=${encodeURIComponent(workspace)}`);
  await page.waitForSelector('.monaco-workbench', { timeout: TIMEOUT });
  log('workbench loaded');
  // the status bar item: the server started from hexad.python, indexed the workspace and
  // answered hexad.status
  const status = page.locator('.statusbar-item', { hasText: /Hexad: \d+ files/ }).first();
  await status.waitFor();
  log(`status bar: ${(await status.textContent())?.trim()}`);
  await widenSideBar(page, 580);
  await runCommand(page, 'Notifications: Clear All Notifications');

  // 1. a code action of the server on a selection: Extract variable
  await openFile(page, 'inventory/stock.py');
  await goTo(page, 16, 16);
  await page.keyboard.press('Shift+End');
  const first = await codeAction(page, 'Hexad: Extract variable', /Extract self\.price \* self\.quantity into a variable/);
  log(`code action: ${first.task}, proposal #${first.id}`);

  // the proposal in the Hexad view with its confidence, decision and status
  const row = viewRow(page, first.id);
  await row.waitFor();
  await expectText(row, CONFIDENCE, `view row of #${first.id}`);
  log(`view: ${squash(await row.textContent())}`);
  // selecting it in the view opens its side-by-side diff (first select something else:
  // the review selected it already)
  await closeAllEditors(page);
  await expandRow(row);
  await page.locator('.pane-body .monaco-list-row', { hasText: /^syntax/ }).first().click();
  await row.click();
  const diffTab = page.locator('.tab', { hasText: new RegExp(`^Hexad #${first.id} Extract .*: stock\\.py \\(0\\.\\d\\d`) });
  await diffTab.first().waitFor();
  const diff = page.locator('.monaco-diff-editor').first();
  await diff.waitFor();
  await expectText(diff.locator('.editor.modified'), /new_var = self\.price \* self\.quantity/, 'the diff, after');
  await expectText(diff.locator('.editor.original'), /return self\.price \* self\.quantity/, 'the diff, before');
  log('diff opened from the view');
  await clearNotifications(page);
  await page.mouse.move(0, 0);
  await shoot(page, 'proposals-view.png');

  // the inline confidence diagnostic: decoration, squiggle hover, code lens
  await openFile(page, 'inventory/stock.py');
  const editor = page.locator('.editor-instance .monaco-editor').first();
  const inline = new RegExp(`Hexad #${first.id} 0\\.\\d\\d (proceed|review|escalate) — `);
  let decoration = '';
  await waitFor(async () => {
    decoration = await decorationText(editor);
    return inline.test(decoration);
  }, 'the inline confidence after the line');
  log(`inline: ${decoration.slice(0, 160)}`);
  const lens = editor.locator('.codelens-decoration', { hasText: `Hexad #${first.id}:` });
  await lens.first().waitFor();
  log(`code lens: ${squash(await lens.first().textContent())}`);
  // line 16 near the top of the editor: the hover opens below it, the lens stays in sight
  await goTo(page, 16, 9);
  for (let i = 0; i < 13; i++) {
    await page.keyboard.press('Control+ArrowDown');
  }
  await hoverLine(page, editor, 'return self.price');
  const hover = page.locator('.monaco-hover:not(.hidden)', { hasText: `Hexad #${first.id} Extract ` });
  await hover.first().waitFor();
  log(`hover: ${squash(await hover.first().textContent()).slice(0, 160)}`);
  await shoot(page, 'inline-confidence.png', await clipAround(editor, hover.first(), 'return self.price'));
  await page.keyboard.press('Escape');

  // 2. accept it from the diff editor's title bar: the file changes
  await closeAllEditors(page);
  await page.locator('.pane-body .monaco-list-row', { hasText: /^syntax/ }).first().click();
  await row.click();
  await diffTab.first().waitFor();
  await page.locator('.monaco-diff-editor').first().click({ position: { x: 40, y: 40 } });
  await page.locator('.editor-actions .action-label[aria-label^="Accept Proposal"]').first().click();
  await expectText(row, /applied|accepted/, `view row of #${first.id} after Accept`);
  await openFile(page, 'inventory/stock.py');
  await expectText(editor.locator('.view-lines'), /new_var = self\.price \* self\.quantity/, 'stock.py after Accept');
  await page.keyboard.press('Control+S');
  await waitFor(() => readFileSync(join(workspace, 'inventory', 'stock.py'), 'utf-8').includes('new_var = self.price * self.quantity'), 'stock.py saved with the change');
  log(`accepted #${first.id}: stock.py changed`);

  // 3. the extension's own code action, a verified rename; rejected from its code lens
  const reportBefore = readFileSync(join(workspace, 'inventory', 'report.py'), 'utf-8');
  await openFile(page, 'inventory/report.py');
  await goTo(page, 11, 6);
  // the server offers "Plan a task here…" (a source action) only to a client that says it
  // asks for the task's text (the experimental capability hexadPlanPrompt): this one does
  await runCommand(page, 'Source Action...');
  await page.locator('.action-widget .monaco-list-row', { hasText: 'Hexad: Plan a task here…' }).first().waitFor();
  await page.keyboard.press('Escape');
  await page.locator('.action-widget').waitFor({ state: 'hidden' });
  await chooseAction(page, 'Hexad: Rename low_stock (verified)');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill('items_below');
  await page.keyboard.press('Enter');
  const second = await reviewed(page, /Rename .*low_stock.*items_below/);
  log(`rename proposed: #${second.id}`);
  const secondRow = viewRow(page, second.id);
  await expectText(secondRow, CONFIDENCE, `view row of #${second.id}`);
  await clearNotifications(page);
  await openFile(page, 'inventory/report.py');
  const reportEditor = page.locator('.editor-instance .monaco-editor').first();
  const rejectLens = reportEditor.locator('.codelens-decoration a', { hasText: /^Reject$/ });
  await rejectLens.first().waitFor();
  await reportEditor.locator('.codelens-decoration', { hasText: `Hexad #${second.id}:` }).first().waitFor();
  await rejectLens.first().click();
  await expectText(secondRow, /rejected/, `view row of #${second.id} after Reject`);
  await reportEditor.locator('.codelens-decoration', { hasText: `Hexad #${second.id}:` }).first().waitFor({ state: 'detached' });
  const reportAfter = readFileSync(join(workspace, 'inventory', 'report.py'), 'utf-8');
  if (reportAfter !== reportBefore) {
    throw new Error('report.py changed although its proposal was rejected');
  }
  if (await page.locator('.tab.dirty').count() !== 0) {
    throw new Error('an editor has unsaved changes after the rejection');
  }
  await expectText(reportEditor.locator('.view-lines'), /def low_stock\(/, 'report.py after Reject');
  log(`rejected #${second.id}: report.py unchanged`);
  await shoot(page, 'after-review.png');

  // 4. a policy file: completion from the schema, the server's diagnostics as one types
  await openFile(page, '.hexad/policies/team.toml');
  const policy = page.locator('.editor-instance .monaco-editor').first();
  await page.keyboard.press('Control+End');
  await page.keyboard.type('files_');
  await page.keyboard.press('Control+Space');
  const suggestion = page.locator('.suggest-widget .monaco-list-row', { hasText: 'files_per_edit' });
  await suggestion.first().waitFor();
  log(`policy completion: ${squash(await page.locator('.suggest-widget .monaco-list-row').allTextContents().then((t) => t.join(' | '))).slice(0, 200)}`);
  await page.keyboard.press('Escape');
  await page.keyboard.press('Shift+Home');
  await page.keyboard.type('tokens_per_day = -5');
  await policy.locator('.squiggly-error').first().waitFor();
  // the server's diagnostic, as the Problems panel lists it
  await runCommand(page, 'View: Focus Problems (Errors, Warnings, Infos)');
  const problem = page.locator('.markers-panel .monaco-list-row', { hasText: 'hexad' }).filter({ hasText: /budgets|tokens_per_day/ });
  await problem.first().waitFor();
  log(`policy diagnostic: ${squash(await problem.first().textContent()).slice(0, 200)}`);
}

// -- the steps -------------------------------------------------------------------------

/** Choose a code action from Ctrl+. and wait for the proposal it makes to be reviewed. */
async function codeAction(page, title, task) {
  await chooseAction(page, title);
  return reviewed(page, task);
}

/** Ctrl+. then the action with this title, by keyboard as a user would (the menu's
 * pointer block swallows clicks until the mouse moves). */
async function chooseAction(page, title) {
  await page.keyboard.press('Control+.');
  await page.locator('.action-widget .monaco-list-row', { hasText: title }).first().waitFor();
  const rows = page.locator('.action-widget .monaco-list-row.action');
  for (let i = 0; i <= (await rows.count()); i++) {
    const focused = await page.locator('.action-widget .monaco-list-row.focused').getAttribute('aria-label');
    if (focused?.startsWith(title)) {
      await page.keyboard.press('Enter');
      await page.locator('.action-widget').waitFor({ state: 'hidden' });
      return;
    }
    await page.keyboard.press('ArrowDown');
  }
  throw new Error(`no code action "${title}"`);
}

/** The review of a new proposal: its side-by-side diff opens, titled with its confidence. */
async function reviewed(page, task) {
  const tab = page.locator('.tab', { hasText: /^Hexad #\d+ / }).filter({ hasText: task });
  await tab.first().waitFor();
  const text = squash(await tab.first().textContent());
  // one file: `Hexad #1 <task>: stock.py (0.96 proceed)`; several: `Hexad #2 <task> (0.88 review) (2 files)`
  const match = /^Hexad #(\d+) (.*?)(?:: [^:()]+)? \((\d\.\d\d) (\w+)\)/.exec(text);
  if (match === null) {
    throw new Error(`unexpected diff title: ${text}`);
  }
  await page.locator('.monaco-diff-editor').first().waitFor();
  // and the choice, Accept or Reject, as a notification
  const notice = page.locator('.notifications-toasts .notification-list-item', { hasText: `Hexad #${match[1]} ` });
  await notice.first().waitFor();
  log(`review: ${squash(await notice.first().locator('.notification-list-item-message').textContent())}`);
  return { id: Number(match[1]), task: match[2], confidence: Number(match[3]), decision: match[4] };
}

/** Expand a row of the view (the review of a new proposal expands it already). */
async function expandRow(row) {
  if ((await row.getAttribute('aria-expanded')) === 'false') {
    await row.locator('.monaco-tl-twistie').click();
  }
}

function viewRow(page, id) {
  return page.locator('.pane-body .monaco-list-row', { hasText: new RegExp(`#${id} `) }).first();
}

async function shoot(page, name, clip) {
  const path = join(shots, name);
  await page.screenshot({ path, clip, animations: 'disabled' });
  log(`screenshot ${path}`);
  if (updateMedia && ['proposals-view.png', 'inline-confidence.png'].includes(name)) {
    mkdirSync(join(root, 'media', 'screenshots'), { recursive: true });
    copyFileSync(path, join(root, 'media', 'screenshots', name));
  }
}

/** The proposal's line (decoration and code lens) and the hover over it. */
async function clipAround(editor, hoverWidget, text) {
  const box = await editor.boundingBox();
  const line = await editor.locator('.view-line', { hasText: text }).first().boundingBox();
  const hover = await hoverWidget.boundingBox();
  const top = Math.max(box.y, Math.min(hover.y, line.y - 2.5 * line.height) - 4);
  const bottom = Math.min(box.y + box.height, Math.max(hover.y + hover.height, line.y + line.height) + 24);
  return { x: box.x, y: top, width: Math.min(box.width, 1040), height: bottom - top };
}

async function hoverLine(page, editor, text) {
  const span = editor.locator('.view-line', { hasText: text }).first();
  await span.waitFor();
  const box = await span.boundingBox();
  await page.mouse.move(box.x + 120, box.y + box.height / 2);
  await page.mouse.move(box.x + 124, box.y + box.height / 2);
}

// -- helpers ---------------------------------------------------------------------------

async function openFile(page, rel) {
  const name = rel.split('/').pop();
  const folder = rel.split('/').slice(0, -1).join('/');
  await page.keyboard.press('Control+P');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(rel);
  // the file itself, not a recently opened diff of it
  const row = page
    .locator('.quick-input-list .monaco-list-row')
    .filter({ has: page.locator('.label-name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }) })
    .filter({ hasText: folder });
  await row.first().click();
  await input.waitFor({ state: 'hidden' });
  await page.locator('.tab.active .label-name', { hasText: new RegExp(`^${name.replace('.', '\\.')}$`) }).waitFor();
  await page.locator('.editor-instance .monaco-editor .view-lines').first().waitFor();
}

/** Put the cursor at a 1-based line and column (Go to Line). */
async function goTo(page, line, column) {
  await page.locator('.monaco-editor .view-lines').first().click();
  await page.keyboard.press('Control+G');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`:${line}:${column}`);
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
}

/** The text decorations draw after lines (VS Code renders it as CSS ::after content). */
async function decorationText(editor) {
  return editor.locator('.view-lines').evaluate((lines) =>
    [...lines.querySelectorAll('span')]
      .map((span) => getComputedStyle(span, '::after').content)
      .filter((content) => content && content !== 'none' && content !== 'normal')
      .map((content) => JSON.parse(content))
      .join('\n'),
  );
}

/** Drag the sash right of the side bar so the view's rows show in full. */
async function widenSideBar(page, width) {
  const bar = await page.locator('.part.sidebar').boundingBox();
  const x = bar.x + bar.width;
  const y = bar.y + bar.height / 2;
  await page.mouse.move(x, y);
  await page.mouse.down();
  await page.mouse.move(x + (width - bar.width) / 2, y);
  await page.mouse.move(bar.x + width, y);
  await page.mouse.up();
}

/** Run a command by its title from the command palette. */
async function runCommand(page, title) {
  await page.keyboard.press('F1');
  const input = page.locator('.quick-input-widget input');
  await input.waitFor();
  await input.fill(`>${title}`);
  await page.locator('.quick-input-list .monaco-list-row', { hasText: title }).first().waitFor();
  await page.keyboard.press('Enter');
  await input.waitFor({ state: 'hidden' });
}

async function closeAllEditors(page) {
  await runCommand(page, 'View: Close All Editors');
  await page.locator('.tab').first().waitFor({ state: 'detached' });
}

async function clearNotifications(page) {
  await runCommand(page, 'Notifications: Clear All Notifications');
  await page.locator('.notification-toast').first().waitFor({ state: 'detached' });
}

/** Wait until a locator's text matches (the text is polled, never a fixed sleep). */
async function expectText(locator, pattern, what) {
  let last = '';
  try {
    await waitFor(async () => {
      last = squash(await locator.textContent({ timeout: TIMEOUT }));
      return pattern.test(last);
    }, what);
  } catch (error) {
    throw new Error(`${what}: ${pattern} not found in: ${last.slice(0, 600)}`, { cause: error });
  }
}

async function waitFor(predicate, what, timeout = TIMEOUT) {
  const deadline = Date.now() + timeout;
  for (;;) {
    if (await predicate()) {
      return;
    }
    if (Date.now() > deadline) {
      throw new Error(`timed out waiting for ${what}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** textContent with the whitespace of layout (and VS Code's no-break spaces) folded. */
function squash(text) {
  return (text ?? '').replace(/[\s\u00a0]+/g, ' ').trim();
}

/** The extension's log channel ("Hexad"), as the extension host wrote it to disk. */
async function outputLog() {
  const found = execFileSync('find', [join(userData, 'logs'), '-name', 'Hexad.log'], { encoding: 'utf-8' }).trim();
  return found ? found.split('\n').map((f) => readFileSync(f, 'utf-8')).join('\n') : '';
}

function freePort() {
  return new Promise((resolvePort, reject) => {
    const probe = createServer();
    probe.on('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const { port: free } = probe.address();
      probe.close(() => resolvePort(free));
    });
  });
}

async function waitForHttp(url, timeout) {
  const deadline = Date.now() + timeout;
  while (Date.now() < deadline) {
    try {
      const response = await fetch(url);
      if (response.ok) {
        return;
      }
    } catch {
      // not up yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${url} did not answer in ${timeout / 1000} s:\n${serverLog}`);
}

