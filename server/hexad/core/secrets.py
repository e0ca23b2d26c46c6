"""Secrets: the files that hold them and the text that looks like them.

Two questions, asked wherever workspace text leaves the file it lives in — memory's chunks,
notes and decisions, every prompt a model is sent, every log line:

* :func:`is_secret_path` — is this a file whose whole content is a secret (``.env``, a
  private key, an SSH or AWS folder, ``.netrc``)? Such files are never indexed, chunked
  or read into a context. The globs are the same as the built-in policy's
  ``secrets-stay-local`` rule (a test keeps the two lists equal), so the walk that feeds
  memory — which sits beside governance, not above it — refuses what governance refuses.
* :func:`redact` — the text with everything that looks like a credential replaced by
  ``<redacted:KIND>``: private key blocks, cloud and service tokens by their published
  formats (AWS, GitHub, GitLab, Slack, Stripe, Google, OpenAI/Anthropic-style ``sk-``),
  JSON web tokens, passwords in URLs, and quoted or ``.env``-style values assigned to names
  that say they are secret (``password``, ``api_key``, ``SECRET_KEY``, ``token``…) when the
  value looks like one (long enough, letters and digits, no spaces).

Every pattern is linear (no nested quantifiers), so hostile text cannot make redaction
slow. Redaction is one-way and idempotent; its placeholder holds no quote or backslash, so
redacting JSON or source text leaves it JSON or source text.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache

import pathspec

# The built-in policy's `secrets-stay-local` globs (gitignore syntax).
SECRET_FILE_GLOBS: tuple[str, ...] = (
    ".env",
    ".env.*",
    "*.pem",
    "*.key",
    "*.p12",
    "*.pfx",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    ".netrc",
    ".pypirc",
    ".ssh/",
    ".aws/",
    ".gnupg/",
)

PLACEHOLDER = "<redacted:{kind}>"
_SECRET_NAME = (
    r"(?:password|passwd|passphrase|pwd|secret|token|api[_-]?key|apikey|access[_-]?key"
    r"|private[_-]?key|client[_-]?secret|credentials?|auth[_-]?key|signing[_-]?key)"
)
# a value worth hiding: no spaces or quotes, at least 8 characters, letters and digits
_VALUE = r"(?=[^\s'\"`\\]*[0-9])(?=[^\s'\"`\\]*[A-Za-z])[^\s'\"`<>\\]{8,512}"
# an optional type annotation between a name and its value (``password: str = "…"``)
_ANNOTATION = r"(?:[ \t]{0,8}:[ \t]{0,8}[A-Za-z_][\w.\[\], |]{0,64}?)?"


_NAMES = (
    "password",
    "passwd",
    "passphrase",
    "pwd",
    "secret",
    "token",
    "apikey",
    "api_key",
    "api-key",
    "accesskey",
    "access_key",
    "access-key",
    "private_key",
    "private-key",
    "privatekey",
    "credential",
    "auth_key",
    "auth-key",
    "authkey",
    "signing_key",
    "signing-key",
    "signingkey",
)


@dataclass(frozen=True, slots=True)
class _Pattern:
    kind: str
    regex: re.Pattern[str]
    needles: tuple[str, ...]  # lowercase literals: the regex runs only on text holding one
    group: int = 0  # the group that is the secret itself (0: the whole match)


_PATTERNS: tuple[_Pattern, ...] = (
    _Pattern(
        "private-key",
        re.compile(
            r"-----BEGIN[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----[\s\S]*?"
            r"(?:-----END[A-Z0-9 ]{0,40}PRIVATE KEY(?: BLOCK)?-----|\Z)"
        ),
        ("private key",),
    ),
    _Pattern(
        "aws-access-key",
        re.compile(r"\b(?:AKIA|ASIA|ABIA|ACCA|AGPA|AIDA|AROA)[0-9A-Z]{16}\b"),
        ("akia", "asia", "abia", "acca", "agpa", "aida", "aroa"),
    ),
    _Pattern(
        "github-token",
        re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{36,255}|github_pat_\w{22,255})"),
        ("ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"),
    ),
    _Pattern("gitlab-token", re.compile(r"\bglpat-[A-Za-z0-9_-]{20,255}"), ("glpat-",)),
    _Pattern("slack-token", re.compile(r"\bxox[abposr]-[A-Za-z0-9-]{10,255}"), ("xox",)),
    _Pattern(
        "slack-webhook",
        re.compile(r"https://hooks\.slack\.com/services/[A-Za-z0-9/_-]{16,255}"),
        ("hooks.slack.com",),
    ),
    _Pattern(
        "stripe-key",
        re.compile(r"\b[rsp]k_(?:live|test)_[A-Za-z0-9]{16,255}"),
        ("k_live_", "k_test_"),
    ),
    _Pattern("google-api-key", re.compile(r"\bAIza[0-9A-Za-z_-]{35}"), ("aiza",)),
    _Pattern("api-key", re.compile(r"\bsk-(?:[A-Za-z0-9]+-){0,3}[A-Za-z0-9_]{20,255}"), ("sk-",)),
    _Pattern(
        "jwt",
        re.compile(r"\beyJ[A-Za-z0-9_-]{8,4096}\.eyJ[A-Za-z0-9_-]{8,4096}\.[A-Za-z0-9_-]{8,4096}"),
        ("eyj",),
    ),
    _Pattern(
        "url-password",
        re.compile(r"\b[a-zA-Z][a-zA-Z0-9+.-]{1,20}://[^/\s:@'\"]{1,128}:([^/\s@'\"]{1,256})@"),
        ("://",),
        1,
    ),
    # name = "value", name: 'value', "name": "value", name => "value", name: str = "value",
    # the password is 'value'
    # (quotes may come escaped, as in JSON text)
    _Pattern(
        "secret-value",
        re.compile(
            r"(?i)"
            + _SECRET_NAME
            + r"[A-Za-z0-9_.-]{0,64}\\?['\"`]?"
            + _ANNOTATION
            + r"[ \t]{0,8}(?::=|=>|==|=|:|is\b)[ \t]{0,8}[rbuf]{0,2}\\?(['\"`])("
            + _VALUE
            + r")\\?\1"
        ),
        _NAMES,
        2,
    ),
    # NAME=value, export NAME=value (.env files, shell)
    _Pattern(
        "env-value",
        re.compile(
            # a line of its own: at a line start, or inside a string (as JSON carries it)
            r"(?im)(?:^|(?<=[\"'`])|(?<=\\n))[ \t]{0,8}(?:export[ \t]{1,8})?[A-Z0-9_]{0,64}"
            r"(?:PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|ACCESS_?KEY|PRIVATE_?KEY|CREDENTIALS?)"
            r"[A-Z0-9_]{0,64}[ \t]{0,8}=[ \t]{0,8}(" + _VALUE + r")[ \t]*(?=$|[\"'`\\])"
        ),
        _NAMES,
        1,
    ),
)


def _candidates(text: str) -> list[_Pattern]:
    """The patterns worth running on ``text``: one of their literals occurs in it."""
    lowered = text.lower()
    return [p for p in _PATTERNS if any(needle in lowered for needle in p.needles)]


def redact(text: str) -> str:
    """``text`` with every secret-looking span replaced by ``<redacted:KIND>``."""
    if not text:
        return text
    for pattern in _candidates(text):
        text = _apply(pattern, text)
    return text


def find_secrets(text: str) -> list[tuple[str, str]]:
    """(kind, the secret) for each secret-looking span of ``text``, in pattern order."""
    found: list[tuple[str, str]] = []
    for pattern in _candidates(text) if text else []:
        for match in pattern.regex.finditer(text):
            value = match.group(pattern.group)
            if value and not value.startswith("<redacted:"):
                found.append((pattern.kind, value))
    return found


def _apply(pattern: _Pattern, text: str) -> str:
    placeholder = PLACEHOLDER.format(kind=pattern.kind)
    if pattern.group == 0:
        return pattern.regex.sub(placeholder, text)

    def swap(match: re.Match[str]) -> str:
        start, end = match.span(pattern.group)
        whole_start = match.start()
        whole = match.group(0)
        return whole[: start - whole_start] + placeholder + whole[end - whole_start :]

    return pattern.regex.sub(swap, text)


_SECRET_VARIABLE = re.compile(_SECRET_NAME, re.IGNORECASE)
_NOT_SECRET_VARIABLES = frozenset({"PWD", "OLDPWD"})


def is_secret_variable(name: str) -> bool:
    """An environment variable whose name says it holds a credential
    (``OPENAI_API_KEY``, ``GITHUB_TOKEN``, ``DB_PASSWORD``, ``AWS_SECRET_ACCESS_KEY``)."""
    return name.upper() not in _NOT_SECRET_VARIABLES and bool(_SECRET_VARIABLE.search(name))


def without_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """``environ`` less the variables that hold credentials: what code Hexad did not write
    (a workspace's tests running a model's edit) is given."""
    return {k: v for k, v in environ.items() if not is_secret_variable(k)}


def is_secret_path(path: str) -> bool:
    """Whether the workspace-relative posix ``path`` names a secret file, or lies in a
    secret folder (``.ssh/``, ``.aws/``, ``.gnupg/``), at any depth."""
    probe = path.strip("/")
    if not probe:
        return False
    spec = _spec()
    return bool(spec.match_file(probe))


@lru_cache(maxsize=1)
def _spec() -> pathspec.GitIgnoreSpec:
    return pathspec.GitIgnoreSpec.from_lines(SECRET_FILE_GLOBS)


class RedactingFilter(logging.Filter):
    """A handler filter that redacts each record's message (arguments merged in) and its
    formatted traceback before any formatter sees them: secrets never reach a log."""

    _formatter = logging.Formatter()

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string: leave it to logging's own report
            return True
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True


def guard_handler(handler: logging.Handler) -> logging.Handler:
    """``handler`` with a :class:`RedactingFilter` (added once)."""
    if not any(isinstance(f, RedactingFilter) for f in handler.filters):
        handler.addFilter(RedactingFilter())
    return handler


def guard_root_logger() -> None:
    """Every handler of the root logger redacts secrets (call after adding handlers)."""
    for handler in logging.getLogger().handlers:
        guard_handler(handler)
