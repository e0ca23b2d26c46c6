"""Governance: policy model, loader, decision engine, budgets ledger and audit log."""
