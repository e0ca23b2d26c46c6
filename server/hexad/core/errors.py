"""Errors that cross layer boundaries.

Model mistakes and bad inputs are values the caller inspects; these exceptions are for
conditions the caller cannot continue past and must report to the user.
"""


class HexadError(Exception):
    """Base class for errors Hexad reports to the user in one short message."""


class WorkspaceError(HexadError):
    """The workspace path is missing, unreadable or not a directory."""


class GrammarError(HexadError):
    """A grammar folder is malformed: bad manifest, missing wheel or invalid query."""


class DatabaseError(HexadError):
    """The workspace database cannot be opened or migrated."""
