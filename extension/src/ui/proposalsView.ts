/** The "Hexad" view: proposals and plans, from the pure tree model in core/tree.ts. */

import * as vscode from 'vscode';

import { PROPOSALS_VIEW, ServerCommand } from '../core/constants';
import { PlanBook, PlanEntryJson } from '../core/plans';
import type { ProposalJson } from '../core/protocol';
import { buildTree, findNode, parentOf, TreeNode } from '../core/tree';
import type { HexadClient } from '../client/server';

const KEEP_SETTLED = 20; // accepted / rejected proposals kept in view this session
const KEEP_SEEN = 500;

export class ProposalsView implements vscode.TreeDataProvider<TreeNode>, vscode.Disposable {
  private readonly emitter = new vscode.EventEmitter<TreeNode | undefined>();
  readonly onDidChangeTreeData = this.emitter.event;
  readonly plans = new PlanBook();
  private live: ProposalJson[] = [];
  private readonly settled = new Map<number, ProposalJson>();
  /** Every proposal a refresh returned, by id (the newest last), for settle(). */
  private readonly seen = new Map<number, ProposalJson>();
  private nodes: TreeNode[] = buildTree([], []);
  private readonly view: vscode.TreeView<TreeNode>;
  private refreshing: Promise<void> | undefined;
  private again = false;
  private shape = '';

  constructor(private readonly client: HexadClient) {
    this.view = vscode.window.createTreeView(PROPOSALS_VIEW, { treeDataProvider: this, showCollapseAll: true });
  }

  proposal(id: number): ProposalJson | undefined {
    return this.live.find((p) => p.id === id) ?? this.settled.get(id);
  }

  proposals(): ProposalJson[] {
    return [...this.live, ...this.settled.values()];
  }

  /** A proposal left the live set: keep it, with the status the server gave it. */
  settle(id: number, status: string): void {
    // a refresh in flight (or an older server, which published a settled proposal's
    // diagnostics before answering) may have dropped it already: what was last seen is kept
    const known = this.proposal(id) ?? this.seen.get(id);
    this.seen.delete(id);
    if (known !== undefined) {
      this.settled.set(id, { ...known, status });
      while (this.settled.size > KEEP_SETTLED) {
        this.settled.delete(this.settled.keys().next().value as number);
      }
    }
    this.live = this.live.filter((p) => p.id !== id);
    this.rebuild();
  }

  /** Fetch the live proposals again (coalesced: one request at a time). */
  async refresh(): Promise<void> {
    if (this.refreshing !== undefined) {
      this.again = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.again = false;
        if (!this.client.running) {
          break;
        }
        try {
          this.live = await this.client.command<ProposalJson[]>(ServerCommand.proposals);
          for (const p of this.live) {
            this.settled.delete(p.id);
            this.seen.set(p.id, p);
          }
          while (this.seen.size > KEEP_SEEN) {
            this.seen.delete(this.seen.keys().next().value as number);
          }
        } catch {
          // the server is restarting: the next refresh catches up
        }
        try {
          this.plans.load(await this.client.command<PlanEntryJson[]>(ServerCommand.plans));
        } catch {
          // a server without hexad.plans: the view shows the plans made in this session
        }
      } while (this.again);
      this.rebuild();
    })().finally(() => (this.refreshing = undefined));
    return this.refreshing;
  }

  rebuild(): void {
    const nodes = buildTree([...this.live, ...this.settled.values()], this.plans.all());
    const shape = JSON.stringify(nodes);
    if (shape === this.shape) {
      // nothing to show anew: a refresh would only replace the rows' commands under the
      // user's pointer (VS Code drops a tree item's command arguments on refresh)
      return;
    }
    this.shape = shape;
    this.nodes = nodes;
    void vscode.commands.executeCommand(
      'setContext',
      'hexad.proposalsToReview',
      this.live.filter((p) => p.status === 'proposed').length,
    );
    const review = this.live.filter((p) => p.status === 'proposed').length;
    this.view.badge = review > 0 ? { value: review, tooltip: `${review} Hexad proposals to review` } : undefined;
    this.emitter.fire(undefined);
  }

  async reveal(id: number): Promise<void> {
    const node = findNode(this.nodes, `proposal/${id}`);
    if (node !== undefined) {
      await this.view.reveal(node, { select: true, focus: false, expand: true });
    }
  }

  getTreeItem(node: TreeNode): vscode.TreeItem {
    const state =
      node.collapsible === 'none'
        ? vscode.TreeItemCollapsibleState.None
        : node.collapsible === 'expanded'
          ? vscode.TreeItemCollapsibleState.Expanded
          : vscode.TreeItemCollapsibleState.Collapsed;
    const item = new vscode.TreeItem(node.label, state);
    item.id = node.id;
    item.description = node.description;
    if (node.tooltip !== undefined) {
      const tooltip = new vscode.MarkdownString(node.tooltip);
      tooltip.supportThemeIcons = true;
      item.tooltip = tooltip;
    }
    if (node.icon !== undefined) {
      item.iconPath = new vscode.ThemeIcon(node.icon, node.color ? new vscode.ThemeColor(node.color) : undefined);
    }
    item.contextValue = node.contextValue;
    item.command = node.command;
    return item;
  }

  getChildren(node?: TreeNode): TreeNode[] {
    return node === undefined ? this.nodes : (node.children ?? []);
  }

  getParent(node: TreeNode): TreeNode | undefined {
    return parentOf(this.nodes, node.id);
  }

  dispose(): void {
    this.view.dispose();
    this.emitter.dispose();
  }
}
