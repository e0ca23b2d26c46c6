/** The status bar item's text and tooltip, from `hexad.status` and the index progress. */

import type { StatusAnswer } from './protocol';

export type ServerState =
  | { kind: 'starting' }
  | { kind: 'indexing'; percentage?: number; message?: string }
  | { kind: 'running'; status?: StatusAnswer }
  | { kind: 'stopped'; reason?: string };

export interface StatusView {
  text: string;
  /** Markdown. */
  tooltip: string;
  /** `warning` / `error` background, or none. */
  level?: 'warning' | 'error';
}

/** 1234 → `1.2k`, 2000000 → `2M`, 12 → `12`. */
export function compact(value: number): string {
  const abs = Math.abs(value);
  const units: [number, string][] = [
    [1e9, 'G'],
    [1e6, 'M'],
    [1e3, 'k'],
  ];
  for (const [size, unit] of units) {
    if (abs >= size) {
      const scaled = value / size;
      const text = scaled >= 100 || Number.isInteger(scaled) ? Math.round(scaled).toString() : scaled.toFixed(1);
      return `${text.replace(/\.0$/, '')}${unit}`;
    }
  }
  return Number.isInteger(value) ? value.toString() : value.toFixed(1);
}

export function budgetLine(status: StatusAnswer): string | undefined {
  const tokens = status.budgets.find((b) => b.name === 'tokens_per_day');
  if (tokens === undefined) {
    return undefined;
  }
  const limit = tokens.limit === null ? '∞' : compact(tokens.limit);
  return `${compact(tokens.spent)}/${limit} tokens`;
}

export function statusView(state: ServerState): StatusView {
  switch (state.kind) {
    case 'starting':
      return { text: '$(loading~spin) Hexad', tooltip: 'Hexad: starting the language server…' };
    case 'stopped':
      return {
        text: '$(error) Hexad',
        tooltip: `Hexad is not running${state.reason ? `: ${state.reason}` : ''}. Click for the log.`,
        level: 'error',
      };
    case 'indexing': {
      const pct = state.percentage === undefined ? '' : ` ${Math.round(state.percentage)}%`;
      return {
        text: `$(sync~spin) Hexad: indexing${pct}`,
        tooltip: `Hexad is indexing the workspace${state.message ? ` (${state.message})` : ''}.`,
      };
    }
    case 'running':
      return runningView(state.status);
  }
}

function runningView(status: StatusAnswer | undefined): StatusView {
  if (status === undefined) {
    return { text: '$(check) Hexad', tooltip: 'Hexad is running.' };
  }
  const index = status.index;
  if (index.state === 'no workspace') {
    return { text: '$(circle-slash) Hexad', tooltip: 'Hexad: no workspace folder is open.', level: 'warning' };
  }
  const parts = [`${compact(index.files ?? 0)} files`];
  const review = status.proposals.byStatus.proposed ?? 0;
  if (review > 0) {
    parts.push(`${review} to review`);
  }
  const budget = budgetLine(status);
  if (budget !== undefined) {
    parts.push(`${budget} today`);
  }
  const icon = index.state === 'indexing' ? '$(sync~spin)' : '$(check)';
  const nearLimit = status.budgets.some((b) => b.limit !== null && b.limit > 0 && b.spent / b.limit >= 0.9);
  return {
    text: `${icon} Hexad: ${parts.join(' · ')}`,
    tooltip: statusTooltip(status),
    level: nearLimit ? 'warning' : undefined,
  };
}

export function statusTooltip(status: StatusAnswer): string {
  const index = status.index;
  const lines = [
    '**Hexad**',
    '',
    '| | |',
    '|---|---|',
    `| index | ${index.state}: ${index.files ?? 0} files, ${index.symbols ?? 0} symbols${index.lastRunSeconds != null ? `, last run ${index.lastRunSeconds.toFixed(1)} s` : ''} |`,
    `| proposals | ${status.proposals.live} live${Object.entries(status.proposals.byDecision)
      .map(([decision, n]) => `, ${n} ${decision}`)
      .join('')} |`,
    `| today | ${status.today.proposals} proposals, ${compact(status.today.tokens)} model tokens, ${compact(status.today.seconds)} s |`,
  ];
  for (const budget of status.budgets) {
    const window = budget.windowSeconds >= 86_400 ? '24 h' : budget.windowSeconds >= 3_600 ? '1 h' : `${budget.windowSeconds} s`;
    const limit = budget.limit === null ? 'no limit' : `${compact(budget.limit)} (${Math.round((100 * budget.spent) / Math.max(1, budget.limit))}%)`;
    lines.push(`| ${budget.name} | ${compact(budget.spent)} of ${limit} in the last ${window} |`);
  }
  return lines.join('\n');
}
