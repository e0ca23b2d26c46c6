/**
 * What the server answers, as TypeScript types (server/hexad/execution/proposals.py
 * `Proposal.to_json`, lsp/proposals.py `show_diff`, lsp/planning.py, lsp/status.py).
 * Fields the extension does not read are left out.
 */

export interface Evidence {
  text: string;
  weight: number;
}

export interface Check {
  name: string;
  status: string;
  summary: string;
}

export interface ProposalJson {
  id: number;
  task: string;
  kind: string;
  engine?: string;
  status: string;
  staleReason?: string | null;
  confidence: number;
  trust: {
    confidence: number;
    decision: string;
    evidence: Evidence[];
    model?: string;
    proceedAt?: number;
    escalateBelow?: number;
  };
  summary: string;
  verification: { passed: boolean; summary: string; checks: Check[] };
  policy?: { effect: string; reasons: { rule: string; effect: string; why: string }[] };
  needsApproval?: boolean;
  targets: { path: string; line: number; qualname?: string | null }[];
  files: { path: string; newPath?: string | null; created?: boolean; deleted?: boolean }[];
  linesChanged?: number;
  notes?: string[];
}

export interface DiffFile {
  path: string;
  newPath?: string | null;
  before: string | null;
  after: string | null;
}

export interface ShowDiffAnswer {
  id: number;
  diff: string;
  uri: string;
  shown: boolean;
  files: DiffFile[];
}

export interface AcceptAnswer {
  id: number;
  applied: boolean;
  status: string;
  failureReason?: string | null;
  confirmationRequested?: boolean;
}

export interface PlanStepJson {
  id: number;
  title: string;
  status: string;
  detail?: string | null;
  proposal?: number | null;
  depends_on?: number[];
  why?: string;
}

export interface PlanJson {
  task: string;
  planner: string;
  summary?: string;
  steps: PlanStepJson[];
}

export interface PlanAnswer {
  run: string;
  status: string;
  plan: PlanJson;
  markdown: string;
  validation?: { ok?: boolean; problems?: unknown[] } | null;
}

export interface PlanProgress {
  run: string | null;
  step: number;
  of: number;
  title: string;
  status: string;
  detail?: string | null;
  proposal?: number | null;
}

export interface IndexStatus {
  state: string;
  files?: number;
  symbols?: number;
  references?: number;
  lastRunSeconds?: number | null;
}

export interface BudgetUse {
  name: string;
  metric: string;
  windowSeconds: number;
  spent: number;
  limit: number | null;
}

export interface StatusAnswer {
  index: IndexStatus;
  today: { tokens: number; seconds: number; proposals: number; since: number };
  budgets: BudgetUse[];
  proposals: { live: number; byStatus: Record<string, number>; byDecision: Record<string, number> };
}
