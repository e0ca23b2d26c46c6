/** Confidence, decisions and evidence as the user reads them. */

import type { Evidence, ProposalJson } from './protocol';

export type Decision = 'proceed' | 'review' | 'escalate';

export function formatConfidence(confidence: number): string {
  if (!Number.isFinite(confidence)) {
    return '?';
  }
  return Math.min(1, Math.max(0, confidence)).toFixed(2);
}

/** As a percentage, for tooltips: `91%`. */
export function percent(confidence: number): string {
  return `${Math.round(Math.min(1, Math.max(0, confidence)) * 100)}%`;
}

/** A codicon for the decision (what the diagnostic severity also says). */
export function decisionIcon(decision: string): string {
  switch (decision) {
    case 'proceed':
      return 'pass';
    case 'review':
      return 'eye';
    case 'escalate':
      return 'warning';
    default:
      return 'question';
  }
}

export function statusIcon(status: string): string {
  switch (status) {
    case 'proposed':
      return 'git-pull-request-draft';
    case 'accepted':
    case 'applied':
      return 'check';
    case 'rejected':
      return 'close';
    case 'stale':
      return 'history';
    default:
      return 'circle-outline';
  }
}

/** `+0.42 parses` → the evidence line with its sign, strongest first. */
export function evidenceLines(evidence: readonly Evidence[], limit = 10): string[] {
  return [...evidence]
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
    .slice(0, limit)
    .map((e) => `${e.weight >= 0 ? '+' : '−'}${Math.abs(e.weight).toFixed(2)} ${e.text}`);
}

/** The short line shown after a proposal's target line: `Hexad #3 0.91 proceed — parses ✓; …`. */
export function inlineText(proposal: ProposalJson, maxEvidence = 3): string {
  const top = [...proposal.trust.evidence]
    .sort((a, b) => Math.abs(b.weight) - Math.abs(a.weight))
    .slice(0, maxEvidence)
    .map((e) => e.text);
  const stale = proposal.status === 'stale' ? ' · stale' : '';
  const failed = proposal.verification.passed ? '' : ' · verification failed';
  const tail = top.length > 0 ? ` — ${top.join('; ')}` : '';
  return `Hexad #${proposal.id} ${formatConfidence(proposal.confidence)} ${proposal.trust.decision}${stale}${failed}${tail}`;
}

export interface DiagnosticInfo {
  id: number;
  confidence: number;
  task: string;
  decision: string;
  evidence: string[];
  stale: boolean;
}

/**
 * Read a proposal diagnostic's message: `Hexad #3 Rename a to b: 0.91 → proceed — e1; e2`
 * (server/hexad/lsp/proposals.py `_diagnostic`), with `data` {proposal, confidence}.
 */
export function parseDiagnostic(message: string, data?: unknown): DiagnosticInfo | undefined {
  const match = /^Hexad #(\d+) (.*?): (\d+(?:\.\d+)?) → (\w+)(?: — (.*))?$/s.exec(message);
  if (match === null) {
    return undefined;
  }
  const rest = match[5] ?? '';
  const stale = / · stale \(/.test(rest);
  const evidenceText = rest.split(' · ')[0];
  const record = typeof data === 'object' && data !== null ? (data as Record<string, unknown>) : {};
  const confidence = typeof record.confidence === 'number' ? record.confidence : Number(match[3]);
  const id = typeof record.proposal === 'number' ? record.proposal : Number(match[1]);
  return {
    id,
    confidence,
    task: match[2],
    decision: match[4],
    evidence: evidenceText === '' ? [] : evidenceText.split('; '),
    stale,
  };
}

/** What an inline decoration says for a diagnostic (when the full proposal is not known). */
export function inlineFromDiagnostic(info: DiagnosticInfo): string {
  const tail = info.evidence.length > 0 ? ` — ${info.evidence.join('; ')}` : '';
  return `Hexad #${info.id} ${formatConfidence(info.confidence)} ${info.decision}${info.stale ? ' · stale' : ''}${tail}`;
}
