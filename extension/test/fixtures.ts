import type { ProposalJson } from '../src/core/protocol';

/** A proposal as the server's `Proposal.to_json` gives it (trimmed to what is read). */
export function proposal(overrides: Partial<ProposalJson> = {}): ProposalJson {
  return {
    id: 3,
    task: 'Rename total_value to stock_value',
    kind: 'rename',
    engine: 'structural',
    status: 'proposed',
    staleReason: null,
    confidence: 0.912,
    trust: {
      confidence: 0.912,
      decision: 'proceed',
      evidence: [
        { text: 'names resolve ✓', weight: 0.4 },
        { text: '2/2 affected tests pass', weight: 1.1 },
        { text: '2 files touched', weight: -0.2 },
        { text: 'parses ✓', weight: 0.6 },
      ],
      model: 'cold-start',
      proceedAt: 0.93,
      escalateBelow: 0.2,
    },
    summary: '0.91 proceed · syntax ✓ · symbols ✓ · compile ✓ · names ✓ · tests ✓',
    verification: {
      passed: true,
      summary: 'syntax ✓ · symbols ✓ · compile ✓ · names ✓ · tests ✓',
      checks: [
        { name: 'syntax', status: 'passed', summary: 'no new syntax errors' },
        { name: 'tests', status: 'passed', summary: '2/2 tests pass' },
      ],
    },
    policy: { effect: 'allow', reasons: [] },
    needsApproval: false,
    targets: [{ path: 'inventory/stock.py', line: 26, qualname: 'inventory.stock.total_value' }],
    files: [{ path: 'inventory/stock.py' }, { path: 'inventory/report.py' }],
    linesChanged: 3,
    notes: [],
    ...overrides,
  };
}
