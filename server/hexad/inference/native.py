"""llama-cpp-python, imported on demand, with llama.cpp's native logs sent to ``logging``.

Both in-process users (the backend in ``llama.py`` and the embedder in ``embedding.py``)
import it from here, so the log callback is installed once and no model is loaded with
``verbose=False`` — which points file descriptors 1 and 2 at /dev/null for the whole
process while it loads, losing what a language server on stdio writes meanwhile.
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import io
import logging
import threading
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from hexad.inference.base import ModelUnavailableError


def llama_cpp_module() -> ModuleType:
    try:
        llama_cpp = importlib.import_module("llama_cpp")
    except ImportError as error:
        raise ModelUnavailableError(
            "local GGUF models need llama-cpp-python (pip install llama-cpp-python)"
        ) from error
    _route_native_logs(llama_cpp)
    return llama_cpp


_native_log = logging.getLogger("hexad.inference.llama.native")
_GGML_LOG_ERROR = 4  # ggml_log_level: NONE, DEBUG, INFO, WARN, ERROR, CONT
_log_callbacks: list[Any] = []  # the installed callback, referenced while llama.cpp may call it
_log_callbacks_lock = threading.Lock()


def _route_native_logs(llama_cpp: ModuleType) -> None:
    """Send llama.cpp's own log lines to ``logging`` (errors as warnings, the rest as debug).

    llama-cpp-python prints them to stderr; and to keep quiet, ``Llama(verbose=False)``
    points file descriptors 1 and 2 at /dev/null while it loads, for the whole process,
    which loses whatever a language server on stdio writes meanwhile. So models here load
    with ``verbose=True``, their few Python-level prints captured (``_load``), and this
    callback replaces llama-cpp-python's for the process.
    """
    with _log_callbacks_lock:
        if not _log_callbacks:
            callback = llama_cpp.llama_log_callback(_forward_native_log)
            llama_cpp.llama_log_set(callback, ctypes.c_void_p(0))
            _log_callbacks.append(callback)


def _forward_native_log(level: int, text: bytes, _user_data: Any) -> None:
    message = text.decode("utf-8", "replace").rstrip()
    if message:
        _native_log.log(
            logging.WARNING if level == _GGML_LOG_ERROR else logging.DEBUG, "%s", message
        )


@contextlib.contextmanager
def quiet_load(what: str) -> Iterator[None]:
    """Around ``Llama(..., verbose=True)``: its Python-level prints go to the debug log."""
    printed = io.StringIO()
    try:
        with contextlib.redirect_stderr(printed):
            yield
    finally:
        _native_log.debug("loading %s: %s", what, printed.getvalue().strip())
