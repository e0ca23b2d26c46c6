/**
 * The Hexad view as data: proposals (confidence, decision, status) and plans (steps and
 * their status). The view provider only turns these nodes into TreeItems.
 */

import {
  decisionIcon,
  evidenceLines,
  formatConfidence,
  percent,
  statusIcon,
} from './confidence';
import { Command } from './constants';
import type { PlanRun } from './plans';
import { planCounts, stepIcon } from './plans';
import type { ProposalJson } from './protocol';

export interface TreeNode {
  id: string;
  label: string;
  description?: string;
  /** Markdown. */
  tooltip?: string;
  icon?: string;
  /** A theme colour id for the icon. */
  color?: string;
  contextValue?: string;
  collapsible: 'none' | 'collapsed' | 'expanded';
  command?: { command: string; title: string; arguments: unknown[] };
  children?: TreeNode[];
}

const STATUS_ORDER: Record<string, number> = { proposed: 0, stale: 1, accepted: 2, applied: 3, rejected: 4 };

export function decisionColor(decision: string): string | undefined {
  switch (decision) {
    case 'proceed':
      return 'testing.iconPassed';
    case 'review':
      return 'editorWarning.foreground';
    case 'escalate':
      return 'editorError.foreground';
    default:
      return undefined;
  }
}

/** Newest first within each status, proposed ones on top. */
export function sortProposals(proposals: readonly ProposalJson[]): ProposalJson[] {
  return [...proposals].sort(
    (a, b) => (STATUS_ORDER[a.status] ?? 9) - (STATUS_ORDER[b.status] ?? 9) || b.id - a.id,
  );
}

/** `proposal.proposed.acceptable`: what the view's menus key their `when` clauses on. */
export function proposalContext(p: ProposalJson): string {
  const acceptable = p.status === 'proposed' && p.verification.passed;
  return `proposal.${p.status}${acceptable ? '.acceptable' : ''}`;
}

export function proposalTooltip(p: ProposalJson): string {
  const lines = [
    `**Hexad proposal #${p.id}** — ${escape(p.task)}`,
    '',
    `Confidence **${formatConfidence(p.confidence)}** (${percent(p.confidence)}) → **${p.trust.decision}**` +
      (p.trust.proceedAt !== undefined
        ? ` (proceed at ≥ ${formatConfidence(p.trust.proceedAt)}, escalate below ${formatConfidence(p.trust.escalateBelow ?? 0)})`
        : ''),
    '',
    `Status: ${p.status}${p.staleReason ? ` (${escape(p.staleReason)})` : ''} · verification ${p.verification.passed ? 'passed' : 'failed'}: ${escape(p.verification.summary)}`,
  ];
  const evidence = evidenceLines(p.trust.evidence, 8);
  if (evidence.length > 0) {
    lines.push('', 'Evidence:', ...evidence.map((e) => `- ${escape(e)}`));
  }
  const reasons = p.policy?.reasons ?? [];
  if (reasons.length > 0) {
    lines.push('', `Governance: **${escape(p.policy?.effect ?? "?")}**`, ...reasons.map((r) => `- ${escape(r.why)}`));
  }
  return lines.join('\n');
}

function proposalNode(p: ProposalJson): TreeNode {
  const files: TreeNode[] = p.files.map((f, index) => ({
    id: `proposal/${p.id}/file/${index}`,
    label: f.newPath ? `${f.path} → ${f.newPath}` : f.path,
    description: f.created ? 'new' : f.deleted ? 'deleted' : undefined,
    icon: 'diff',
    collapsible: 'none',
    contextValue: 'proposalFile',
    command: {
      command: Command.openDiff,
      title: 'Show the change',
      arguments: [{ id: p.id, path: f.path }],
    },
  }));
  const checks: TreeNode[] = p.verification.checks.map((c) => ({
    id: `proposal/${p.id}/check/${c.name}`,
    label: c.name,
    description: c.summary,
    icon: c.status === 'passed' ? 'pass' : c.status === 'failed' || c.status === 'error' ? 'error' : 'circle-slash',
    color: c.status === 'passed' ? 'testing.iconPassed' : c.status === 'failed' || c.status === 'error' ? 'testing.iconFailed' : undefined,
    collapsible: 'none',
  }));
  const evidence: TreeNode[] = evidenceLines(p.trust.evidence, 6).map((line, index) => ({
    id: `proposal/${p.id}/evidence/${index}`,
    label: line,
    icon: line.startsWith('+') ? 'arrow-up' : 'arrow-down',
    collapsible: 'none',
  }));
  return {
    id: `proposal/${p.id}`,
    // the confidence leads, so a narrow view still shows it
    label: `${formatConfidence(p.confidence)} #${p.id} ${p.task}`,
    description: `${p.trust.decision} · ${p.status}`,
    tooltip: proposalTooltip(p),
    icon: p.status === 'proposed' ? decisionIcon(p.trust.decision) : statusIcon(p.status),
    color: p.status === 'proposed' ? decisionColor(p.trust.decision) : undefined,
    contextValue: proposalContext(p),
    collapsible: 'collapsed',
    command: { command: Command.openDiff, title: 'Show the change', arguments: [{ id: p.id }] },
    children: [...files, ...checks, ...evidence],
  };
}

function planNode(run: PlanRun): TreeNode {
  const counts = planCounts(run.plan);
  const steps: TreeNode[] = run.plan.steps.map((s) => ({
    id: `plan/${run.run}/step/${s.id}`,
    label: `${s.id}. ${s.title}`,
    description: s.detail ? `${s.status}: ${s.detail}` : s.status,
    tooltip: s.why ? escape(s.why) : undefined,
    icon: stepIcon(s.status),
    collapsible: 'none',
    contextValue: s.proposal ? 'planStep.proposal' : 'planStep',
    command:
      s.proposal !== null && s.proposal !== undefined
        ? { command: Command.revealProposal, title: 'Show the proposal', arguments: [{ id: s.proposal }] }
        : undefined,
  }));
  return {
    id: `plan/${run.run}`,
    label: run.plan.task,
    description: `${run.status} · ${counts.done}/${counts.total} done${counts.failed ? ` · ${counts.failed} failed` : ''}`,
    tooltip: run.markdown,
    icon: run.status === 'running' ? 'sync~spin' : run.status === 'invalid' || run.status === 'failed' ? 'error' : 'checklist',
    contextValue: `plan.${run.status}`,
    collapsible: run.status === 'running' ? 'expanded' : 'collapsed',
    command: { command: Command.showPlan, title: 'Show the plan', arguments: [{ run: run.run }] },
    children: steps,
  };
}

export function buildTree(proposals: readonly ProposalJson[], plans: readonly PlanRun[]): TreeNode[] {
  const sorted = sortProposals(proposals);
  const live = sorted.filter((p) => p.status === 'proposed').length;
  return [
    {
      id: 'proposals',
      label: 'Proposals',
      description: sorted.length === 0 ? 'none yet' : `${live} to review`,
      icon: 'git-pull-request',
      collapsible: 'expanded',
      contextValue: 'proposals',
      children: sorted.map(proposalNode),
    },
    {
      id: 'plans',
      label: 'Plans',
      description: plans.length === 0 ? 'none yet' : `${plans.length}`,
      icon: 'checklist',
      collapsible: 'expanded',
      contextValue: 'plans',
      children: plans.map(planNode),
    },
  ];
}

/** Find a node by id anywhere in the tree. */
export function findNode(nodes: readonly TreeNode[], id: string): TreeNode | undefined {
  for (const node of nodes) {
    if (node.id === id) {
      return node;
    }
    const found = findNode(node.children ?? [], id);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

/** The parent of the node with `id`. */
export function parentOf(nodes: readonly TreeNode[], id: string, parent?: TreeNode): TreeNode | undefined {
  for (const node of nodes) {
    if (node.id === id) {
      return parent;
    }
    const found = parentOf(node.children ?? [], id, node);
    if (found !== undefined) {
      return found;
    }
  }
  return undefined;
}

function escape(text: string): string {
  return text.replace(/([\\`*_{}[\]<>|])/g, '\\$1');
}
