"""Execution: proposals, edit engines, shadow workspace and verification."""
