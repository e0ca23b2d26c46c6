"""Reading the client's stdin: one thread, large reads, bounded memory.

pygls reads each header line and each body through a thread-pool round trip; with the
index thread busy (a storm of keystrokes keeps it re-indexing), every round trip waits for
the interpreter lock, and a thousand ``didChange`` a second could not even be read. Here one
thread reads whatever the pipe holds (up to a megabyte at a time) into a buffer, and the
event loop takes lines and bodies from memory, waiting only when the buffer is empty.

The buffer is bounded: the reading thread stops reading while more than
:data:`MAX_BUFFERED` bytes wait (the client then blocks on its pipe), unless a body being
read needs more; and a "line" that runs past :data:`MAX_LINE` bytes without a newline is
handed over in pieces (it is no header; the framer skips it).
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Callable
from typing import BinaryIO

READ_SIZE = 1 << 20
MAX_BUFFERED = 16 << 20
MAX_LINE = 64 << 10


class BufferedStdin:
    """``readline`` and ``readexactly`` (the reader interface of ``read_frames``) over a
    stream read by one background thread."""

    def __init__(self, stream: BinaryIO, loop: asyncio.AbstractEventLoop) -> None:
        self._stream = stream
        self._loop = loop
        self._buffer = bytearray()
        self._eof = False
        self._need = 0  # bytes a pending readexactly waits for
        self._cond = threading.Condition()
        self._waiter: asyncio.Future[None] | None = None
        self._thread = threading.Thread(target=self._read, name="hexad-stdin", daemon=True)
        self._thread.start()

    # -- the reading thread ------------------------------------------------------------

    def _read(self) -> None:
        read = self._reader()
        while True:
            with self._cond:
                while len(self._buffer) >= max(MAX_BUFFERED, self._need):
                    self._cond.wait()
            try:
                data = read(READ_SIZE)
            except (OSError, ValueError):
                data = b""
            with self._cond:
                if data:
                    self._buffer += data
                else:
                    self._eof = True
            self._loop.call_soon_threadsafe(self._wake)
            if not data:
                return

    def _reader(self) -> Callable[[int], bytes]:
        """The file descriptor itself where there is one: a daemon thread blocked inside a
        buffered stream holds its lock, and the interpreter aborts on it at exit."""
        try:
            fd = self._stream.fileno()
        except (OSError, ValueError, AttributeError):
            return getattr(self._stream, "read1", None) or self._stream.read
        return lambda size: os.read(fd, size)

    def _wake(self) -> None:
        waiter, self._waiter = self._waiter, None
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def _more(self, seen: int) -> None:
        """Wait until the buffer holds more than the ``seen`` bytes (or the stream ended)."""
        with self._cond:
            if self._eof or len(self._buffer) != seen:
                return  # it changed after the caller looked: no wake-up is lost
            waiter = self._waiter = self._loop.create_future()
        await waiter

    def _take(self, size: int) -> bytes:
        with self._cond:
            out = bytes(self._buffer[:size])
            del self._buffer[:size]
            self._cond.notify_all()
        return out

    # -- what read_frames calls --------------------------------------------------------

    async def readline(self) -> bytes:
        """Up to and including the next newline (b"" at the end of the stream)."""
        scanned = 0
        while True:
            with self._cond:
                at = self._buffer.find(b"\n", scanned)
                size = len(self._buffer)
                eof = self._eof
            if at >= 0:
                return self._take(at + 1)
            if size >= MAX_LINE or eof:
                return self._take(min(size, MAX_LINE))
            scanned = size
            await self._more(size)

    async def readexactly(self, size: int) -> bytes:
        """``size`` bytes (fewer only at the end of the stream)."""
        while True:
            with self._cond:
                have, eof = len(self._buffer), self._eof
                if have < size and not eof:
                    self._need = size
                    self._cond.notify_all()
            if have >= size or eof:
                with self._cond:
                    self._need = 0
                return self._take(size)
            await self._more(have)
