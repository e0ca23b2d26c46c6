"""Shared value types, settings, errors, resources and the database connection."""
