/**
 * Every name the extension shares with the server or with package.json: command ids,
 * notification methods, setting keys, view ids and URI schemes. One place, so a rename
 * is one edit (package.json's contributions are checked against these by a unit test).
 */

/** The language client's id: VS Code reads `hexad.trace.server` from it. */
export const CLIENT_ID = 'hexad';
export const CLIENT_NAME = 'Hexad';
export const OUTPUT_CHANNEL = 'Hexad';
export const TRACE_CHANNEL = 'Hexad Trace';

/** Commands the server registers (workspace/executeCommand). */
export const ServerCommand = {
  propose: 'hexad.propose',
  accept: 'hexad.accept',
  reject: 'hexad.reject',
  showDiff: 'hexad.showDiff',
  review: 'hexad.review',
  proposals: 'hexad.proposals',
  plan: 'hexad.plan',
  planRun: 'hexad.plan.run',
  planCancel: 'hexad.plan.cancel',
  plans: 'hexad.plans',
  indexStatus: 'hexad.indexStatus',
  status: 'hexad.status',
  reindex: 'hexad.reindex',
} as const;

/** Commands the extension contributes (the view, title bars, palette). */
export const Command = {
  refresh: 'hexad.ui.refresh',
  acceptProposal: 'hexad.ui.accept',
  rejectProposal: 'hexad.ui.reject',
  rejectWithReason: 'hexad.ui.rejectWithReason',
  openDiff: 'hexad.ui.openDiff',
  revealProposal: 'hexad.ui.revealProposal',
  proposeRename: 'hexad.ui.proposeRename',
  makePlan: 'hexad.ui.plan',
  runPlan: 'hexad.ui.runPlan',
  cancelPlan: 'hexad.ui.cancelPlan',
  showPlan: 'hexad.ui.showPlan',
  restart: 'hexad.ui.restart',
  showOutput: 'hexad.ui.showOutput',
  selectInterpreter: 'hexad.ui.selectInterpreter',
} as const;

/** Notifications the server sends besides the protocol's own. */
export const Notification = {
  indexed: 'hexad/indexed',
  documentIndexed: 'hexad/documentIndexed',
  memorySynced: 'hexad/memorySynced',
  planProgress: 'hexad/planProgress',
} as const;

/** The experimental client capability that says this client asks for a plan's task
 * text itself ("Plan a task here…" code actions, server/hexad/lsp/proposals.py). */
export const PLAN_PROMPT_CAPABILITY = 'hexadPlanPrompt';

export const SECTION = 'hexad';

/** Settings read by the extension itself (the server's settings are in settings.ts). */
export const Setting = {
  python: 'python',
  serverArgs: 'server.args',
  traceServer: 'trace.server',
  inlineConfidence: 'review.inlineConfidence',
  policyCompletion: 'policy.completion',
  indexNotification: 'index.notification',
} as const;

export const VIEW_CONTAINER = 'hexad';
export const PROPOSALS_VIEW = 'hexad.proposals';

/** Read-only documents holding a proposal's files before and after. */
export const PROPOSAL_SCHEME = 'hexad-proposal';

/** The diagnostic `code` the server gives a proposal's diagnostic. */
export const PROPOSAL_DIAGNOSTIC_CODE = 'proposal';
export const DIAGNOSTIC_SOURCE = 'hexad';

/** Policy files the server checks (what `PolicyStore.ref_for` owns). */
export const POLICY_GLOBS = ['**/.hexad/policies/*.toml', '**/hexad/policy.toml'];

/** Languages the server indexes (grammars/ in the repository). */
export const LANGUAGES = [
  'python',
  'javascript',
  'javascriptreact',
  'typescript',
  'typescriptreact',
  'go',
  'rust',
  'java',
  'c',
  'cpp',
  'csharp',
  'ruby',
];
