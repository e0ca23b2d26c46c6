"""Memory: code chunks, notes, decisions and plan runs, searchable by words and meaning."""

from hexad.memory.records import Decision, Note, Proposal
from hexad.memory.search import Filters, Recall
from hexad.memory.service import Memory, open_memory
from hexad.memory.sync import SyncReport

__all__ = [
    "Decision",
    "Filters",
    "Memory",
    "Note",
    "Proposal",
    "Recall",
    "SyncReport",
    "open_memory",
]
