"""Perception: the workspace as structure — symbols, call graph, import graph, exported API."""
