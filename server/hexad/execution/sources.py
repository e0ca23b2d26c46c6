"""Workspace texts for engines: open buffers over the disk."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path

from hexad.execution.edits import EditError, resolve_inside

Buffer = tuple[str, int]  # (text, version)


class DiskSources:
    """Files as they are on disk, with open buffers taking precedence: ``buffers`` maps
    a path to (text, version), or is a function answering that for one path (the
    server's open documents), None when the file is not open."""

    def __init__(
        self,
        root: Path,
        buffers: Mapping[str, Buffer] | Callable[[str], Buffer | None] | None = None,
    ) -> None:
        self._root = root.resolve()
        self._buffers = buffers

    @property
    def root(self) -> Path:
        return self._root

    def _buffer(self, path: str) -> Buffer | None:
        buffers = self._buffers
        if buffers is None:
            return None
        return buffers(path) if callable(buffers) else buffers.get(path)

    def text(self, path: str) -> str:
        buffer = self._buffer(path)
        if buffer is not None:
            return buffer[0]
        full = resolve_inside(self._root, path)
        data = full.read_bytes()
        return data.decode("utf-8")

    def version(self, path: str) -> int | None:
        buffer = self._buffer(path)
        return None if buffer is None else buffer[1]

    def exists(self, path: str) -> bool:
        if self._buffer(path) is not None:
            return True
        try:
            return resolve_inside(self._root, path).is_file()
        except (OSError, EditError):
            return False
