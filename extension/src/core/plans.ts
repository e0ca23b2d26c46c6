/** Plans made in this session, kept up to date by `hexad/planProgress`. */

import type { PlanAnswer, PlanJson, PlanProgress } from './protocol';

export interface PlanRun {
  run: string;
  /** approved | invalid | running | done | failed | cancelled (the server's words). */
  status: string;
  plan: PlanJson;
  markdown: string;
}

const MARKS: Record<string, string> = {
  pending: '☐',
  running: '▶',
  done: '☑',
  failed: '✗',
  skipped: '–',
  cancelled: '⊘',
};

export function stepIcon(status: string): string {
  switch (status) {
    case 'done':
      return 'pass';
    case 'running':
      return 'sync~spin';
    case 'failed':
      return 'error';
    case 'skipped':
      return 'debug-step-over';
    case 'cancelled':
      return 'circle-slash';
    default:
      return 'circle-large-outline';
  }
}

export function planCounts(plan: PlanJson): { done: number; failed: number; total: number } {
  return {
    done: plan.steps.filter((s) => s.status === 'done').length,
    failed: plan.steps.filter((s) => s.status === 'failed').length,
    total: plan.steps.length,
  };
}

/** The plan as markdown, from its data (the same shape as the server's `Plan.markdown`). */
export function planMarkdown(plan: PlanJson): string {
  const lines = [`# Plan: ${plan.task}`, ''];
  if (plan.summary) {
    lines.push(plan.summary, '');
  }
  lines.push(`*${plan.planner} planner, ${plan.steps.length} steps*`);
  for (const step of plan.steps) {
    const after = step.depends_on && step.depends_on.length > 0 ? ` (after ${step.depends_on.join(', ')})` : '';
    lines.push('', `${MARKS[step.status] ?? '?'} **${step.id}. ${step.title}**${after}`);
    if (step.why) {
      lines.push(`   ${step.why}`);
    }
    if (step.detail) {
      lines.push(`   - ${step.status}: ${step.detail}`);
    }
  }
  return lines.join('\n') + '\n';
}

/** Every plan of the session, newest first. */
export class PlanBook {
  private readonly runs = new Map<string, PlanRun>();

  /** A `hexad.plan` or `hexad.plan.run` answer. */
  record(answer: PlanAnswer): PlanRun {
    const run: PlanRun = {
      run: answer.run,
      status: answer.status,
      plan: answer.plan,
      markdown: answer.markdown,
    };
    this.runs.delete(answer.run);
    this.runs.set(answer.run, run);
    return run;
  }

  /** A `hexad/planProgress` notification; false when it is about no known plan. */
  progress(note: PlanProgress): boolean {
    const run = note.run === null ? undefined : this.runs.get(note.run);
    if (run === undefined) {
      return false;
    }
    const step = run.plan.steps.find((s) => s.id === note.step);
    if (step === undefined) {
      return false;
    }
    step.status = note.status;
    step.detail = note.detail ?? null;
    if (note.proposal !== undefined && note.proposal !== null) {
      step.proposal = note.proposal;
    }
    run.status = runStatus(run.plan, run.status);
    run.markdown = planMarkdown(run.plan);
    return true;
  }

  setStatus(runId: string, status: string): void {
    const run = this.runs.get(runId);
    if (run !== undefined) {
      run.status = status;
    }
  }

  /** The runs `hexad.plans` listed (oldest first kept in order: the newest is listed first). */
  load(entries: readonly PlanEntryJson[]): void {
    for (const entry of [...entries].reverse()) {
      const known = this.runs.get(entry.run);
      if (known !== undefined && known.status === 'running' && !entry.running) {
        // a progress notification may be newer than the list: keep what it said
        continue;
      }
      this.runs.delete(entry.run);
      this.runs.set(entry.run, runFromEntry(entry));
    }
  }

  get(runId: string): PlanRun | undefined {
    return this.runs.get(runId);
  }

  all(): PlanRun[] {
    return [...this.runs.values()].reverse();
  }
}

/** What a plan's steps say about the run as a whole. */
export function runStatus(plan: PlanJson, previous: string): string {
  const statuses = plan.steps.map((s) => s.status);
  if (statuses.includes('running')) {
    return 'running';
  }
  if (statuses.includes('failed')) {
    return 'failed';
  }
  if (statuses.includes('cancelled')) {
    return 'cancelled';
  }
  if (statuses.every((s) => s === 'done' || s === 'skipped')) {
    return 'done';
  }
  if (statuses.some((s) => s === 'done')) {
    return 'running';
  }
  return previous;
}

/** A stored plan run as `hexad.plans` lists it (server/hexad/lsp/planning.py `plan_entry`). */
export interface PlanEntryJson {
  run: string;
  task: string;
  status: string;
  planner: string;
  steps: { id: number; title: string; status: string; detail?: string | null; proposal?: number | null; dependsOn?: number[] }[];
  markdown: string;
  running?: boolean;
}

/** A listed run as the view keeps it. */
export function runFromEntry(entry: PlanEntryJson): PlanRun {
  return {
    run: entry.run,
    status: entry.running ? 'running' : entry.status,
    markdown: entry.markdown,
    plan: {
      task: entry.task,
      planner: entry.planner,
      steps: entry.steps.map((s) => ({
        id: s.id,
        title: s.title,
        status: s.status,
        detail: s.detail ?? null,
        proposal: s.proposal ?? null,
        depends_on: s.dependsOn ?? [],
      })),
    },
  };
}

/**
 * The arguments of a "Plan a task here…" action (`{ask: true, focus}`) once the user has
 * typed the task: `{task, focus}`. Anything else passes unchanged; undefined when the
 * action asks and no task was given.
 */
export function planArguments(args: readonly unknown[], task?: string): unknown[] | undefined {
  const first = args[0];
  if (typeof first !== 'object' || first === null || (first as { ask?: unknown }).ask !== true) {
    return [...args];
  }
  const text = task?.trim();
  if (!text) {
    return undefined;
  }
  const rest: Record<string, unknown> = { ...(first as Record<string, unknown>) };
  delete rest.ask;
  return [{ ...rest, task: text }, ...args.slice(1)];
}

/** Does this `hexad.plan` call need the task's text from the user? */
export function asksForTask(args: readonly unknown[]): boolean {
  const first = args[0];
  return typeof first === 'object' && first !== null && (first as { ask?: unknown }).ask === true;
}
