"""Secrets never enter memory, a model's prompt or a log: secret files are not indexed,
and text that looks like a credential is redacted wherever it would leave its file."""

from __future__ import annotations

import json
import logging
import os
import shutil
import tomllib
from pathlib import Path

import pytest

from hexad.core.db import Connection, connect, database_path
from hexad.core.secrets import (
    SECRET_FILE_GLOBS,
    find_secrets,
    guard_handler,
    is_secret_path,
    is_secret_variable,
    redact,
    without_secrets,
)
from hexad.core.settings import ModelSettings
from hexad.execution.engines import model
from hexad.execution.models import ModelService
from hexad.execution.sources import DiskSources
from hexad.governance import open_engine
from hexad.inference.base import ChatMessage, GenerationRequest
from hexad.inference.fake import ScriptedBackend
from hexad.memory import Memory
from hexad.memory.records import Proposal, Records
from hexad.perception.files import walk
from hexad.perception.index import IndexReader
from hexad.perception.indexer import Indexer
from hexad.perception.language import default_registry

REPO = Path(__file__).resolve().parents[2]
FIXTURE = REPO / "tests" / "fixtures" / "exec_workspace"

# each value is what must disappear; the keys are what the text looks like
SECRETS = {
    "aws access key id": "AKIAIOSFODNN7EXAMPLE",
    "aws secret": "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
    "github token": "ghp_" + "a1B2" * 9,
    "gitlab token": "glpat-" + "x9Y8" * 5,
    "slack token": "xoxb-123456789012-abcdefghijkl",
    "stripe key": "sk_live_" + "4eC39HqLyjWDarjtT1zdp7dc",
    "google api key": "AIza" + "SyA1234567890abcdefghijklmnopqrstu",
    "openai-style key": "sk-proj-" + "Zq8" * 10,
    "jwt": "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlF",
    "password": "hunter2hunter2",
    "url password": "s3cr3tPassw0rd",
    "django secret key": "django-insecure-7f3k2l9m1n0p8q",
    "env api key": "abcd1234efgh5678",
    "private key": "MIIEpAIBAAKCAQEA3Tz2mr7SZiAMfQyuvBjM9Oi",
}
TEXTS = {
    "aws access key id": 'aws_access_key_id = "{}"',
    "aws secret": 'AWS_SECRET_ACCESS_KEY = "{}"',
    "github token": "GITHUB = '{}'",
    "gitlab token": "gitlab({!r})",
    "slack token": 'SLACK_HOOK = "{}"',
    "stripe key": 'stripe.api_key = "{}"',
    "google api key": "const config = {{ apiKey: '{}' }};",
    "openai-style key": 'client = OpenAI(api_key="{}")',
    "jwt": 'headers = {{"Authorization": "Bearer {}"}}',
    "password": 'connect(user="app", password="{}")',
    "url password": 'DATABASE_URL = "postgres://admin:{}@db:5432/app"',
    "django secret key": "SECRET_KEY = '{}'",
    "env api key": "export API_KEY={}",
    "private key": 'KEY = """-----BEGIN RSA PRIVATE KEY-----\n{}\n-----END RSA PRIVATE KEY-----"""',
}
HARMLESS = [
    'password_field = "password"',
    "def get_token(self):\n    return self._token",
    'TOKEN_RE = re.compile(r"[a-z]+")',
    'secret = os.environ["SECRET"]',
    'url = "https://example.com/path?q=1"',
    "api_key = settings.API_KEY",
    'raise ValueError("the token has expired")',
    "tokens = tokenize(text)  # split into words",
    'KEY_NAMES = ("password", "token")',
]


@pytest.mark.parametrize("kind", list(SECRETS))
def test_every_kind_of_secret_is_redacted(kind: str) -> None:
    text = TEXTS[kind].format(SECRETS[kind])
    cleaned = redact(text)
    assert SECRETS[kind] not in cleaned, cleaned
    assert "<redacted:" in cleaned
    assert redact(cleaned) == cleaned  # idempotent
    assert find_secrets(text) and not find_secrets(cleaned)


@pytest.mark.parametrize("text", HARMLESS)
def test_ordinary_code_is_left_alone(text: str) -> None:
    assert redact(text) == text
    assert find_secrets(text) == []


def test_redacted_json_stays_json() -> None:
    data = {k: TEXTS[k].format(v) for k, v in SECRETS.items()}
    cleaned = redact(json.dumps(data))
    assert json.loads(cleaned).keys() == data.keys()
    assert not any(secret in cleaned for secret in SECRETS.values())


def test_hostile_text_is_redacted_in_one_pass() -> None:
    """No pattern can be made to backtrack: these would take minutes if one could."""
    texts = [
        "password=" + "a1" * 100_000,
        "eyJ" + "a" * 100_000 + ".",
        "a://b:" * 50_000,
        "-----BEGIN RSA PRIVATE KEY-----" * 10_000,
        "token" * 100_000 + '="' + "x1" * 300,
    ]
    for text in texts:
        assert isinstance(redact(text), str)


def test_secret_globs_are_the_built_in_policys() -> None:
    """The walk (beside governance) and the policy's read rule refuse the same files."""
    policy = tomllib.loads((REPO / "policies" / "default.toml").read_text(encoding="utf-8"))
    (rule,) = [r for r in policy["rules"] if r["id"] == "secrets-stay-local"]
    assert tuple(rule["when"]["paths"]) == SECRET_FILE_GLOBS
    for path in [".env", "app/.env.local", "deploy/id_rsa", "certs/server.pem", ".ssh/config"]:
        assert is_secret_path(path), path
    for path in ["secrets.py", "env.py", "app/keys.py", "tokenizer.js"]:
        assert not is_secret_path(path), path


# -- a workspace with secrets in it --------------------------------------------------------

SETTINGS = '''\
"""Settings, with the mistakes people make."""

SECRET_KEY = "{django}"
AWS_ACCESS_KEY_ID = "{aws}"
DATABASE_URL = "postgres://admin:{url}@db:5432/app"


def connect(user: str, password: str = "{password}") -> str:
    """Log in; the deploy token is {github}."""
    token = "{github}"
    return user + password + token


def clamp_retries(count: int) -> int:
    """Keep ``count`` between 0 and 5."""
    raise NotImplementedError
'''


def _secret_workspace(root: Path) -> Path:
    shutil.copytree(FIXTURE, root, ignore=shutil.ignore_patterns(".hexad", "__pycache__"))
    (root / "inventory" / "settings.py").write_text(
        SETTINGS.format(
            django=SECRETS["django secret key"],
            aws=SECRETS["aws access key id"],
            url=SECRETS["url password"],
            password=SECRETS["password"],
            github=SECRETS["github token"],
        ),
        encoding="utf-8",
    )
    (root / ".env").write_text(f"API_KEY={SECRETS['env api key']}\n", encoding="utf-8")
    (root / "deploy").mkdir()
    (root / "deploy" / ".env.js").write_text(
        f"export const KEY = '{SECRETS['google api key']}';\n", encoding="utf-8"
    )
    (root / "deploy" / "id_rsa.py").write_text(f"KEY = '{SECRETS['stripe key']}'\n")
    os.symlink(root / "deploy" / ".env.js", root / "inventory" / "config.js")
    return root


def _memory_text(conn: Connection) -> str:
    """Everything memory holds, as one string."""
    parts: list[str] = []
    for table in (
        "memory_items",
        "memory_fts",
        "memory_notes",
        "memory_decisions",
        "memory_decision_events",
        "memory_files",
    ):
        for row in conn.execute(f"SELECT * FROM {table}"):
            parts.extend(str(v) for v in row)
    return "\n".join(parts)


def test_secret_files_are_not_indexed(tmp_path: Path) -> None:
    root = _secret_workspace(tmp_path / "ws")
    skipped = {s.path: s.reason for s in walk(root, default_registry()) if hasattr(s, "reason")}
    assert skipped["deploy/.env.js"].startswith("a secret file")
    assert skipped["deploy/id_rsa.py"].startswith("a secret file")
    assert skipped["inventory/config.js"].startswith("symbolic link to a secret file")


def test_memory_holds_no_secret(tmp_path: Path) -> None:
    root = _secret_workspace(tmp_path / "ws")
    conn = connect(database_path(root))
    Indexer(root, conn=conn, workers=1).run()
    memory = Memory(conn, root)
    memory.sync()
    records = Records(conn)
    records.remember(f"the staging password is {SECRETS['password']!r}, token {SECRETS['jwt']}")
    diff = f'-SECRET_KEY = "{SECRETS["django secret key"]}"\n+SECRET_KEY = os.environ["KEY"]\n'
    decision = records.record(
        Proposal(
            task="read the secret key from the environment",
            kind="implement",
            diff=diff,
            targets=[{"path": "inventory/settings.py"}],
            evidence={"output": "E   " + TEXTS["aws secret"].format(SECRETS["aws secret"])},
            verification={"tests": {"output": f"key={SECRETS['openai-style key']}"}},
        )
    )
    records.set_status(decision, "rejected", reason=f"never log {SECRETS['slack token']}")
    text = _memory_text(conn)
    found = [kind for kind, secret in SECRETS.items() if secret in text]
    assert found == []
    # the code around them is still remembered, and found
    hits = memory.recall("connect user password token", k=5)
    assert any(h.item.qualname == "inventory.settings.connect" for h in hits)
    assert "<redacted:" in text
    conn.close()


def test_a_models_prompt_holds_no_secret(tmp_path: Path) -> None:
    """Everything that builds a prompt — the target, its file's imports, its neighbours,
    the repository map, memory's hits — goes through a GenerationRequest, which redacts."""
    root = _secret_workspace(tmp_path / "ws")
    conn = connect(database_path(root))
    Indexer(root, conn=conn, workers=1).run()
    memory = Memory(conn, root)
    memory.sync()
    engine = open_engine(root, user_file=None)
    backend = ScriptedBackend(script={"local": "def clamp_retries(count: int) -> int:\n"})
    service = ModelService(
        engine, {"local": ModelSettings(path=str(root / "m.gguf"))}, {"llama": backend}
    )
    backend.script["local"] = (
        "def clamp_retries(count: int) -> int:\n    return max(0, min(count, 5))\n"
    )
    model.implement(
        service,
        DiskSources(root),
        IndexReader(conn),
        conn,
        "inventory/settings.py",
        "inventory.settings.clamp_retries",
        memory=memory,
    )
    ((_, request),) = backend.calls
    prompt = "\n".join(m.content for m in request.messages)
    assert "inventory.settings" in prompt or "settings.py" in prompt  # it saw the file
    assert [kind for kind, secret in SECRETS.items() if secret in prompt] == []
    # and however a request is made
    raw = GenerationRequest(messages=(ChatMessage("user", TEXTS["jwt"].format(SECRETS["jwt"])),))
    assert SECRETS["jwt"] not in raw.messages[0].content
    plain = GenerationRequest(prompt=f"key: {SECRETS['stripe key']}")
    assert plain.prompt is not None and SECRETS["stripe key"] not in plain.prompt
    engine.close()
    conn.close()


def test_logs_hold_no_secret(tmp_path: Path) -> None:
    log_path = tmp_path / "hexad.log"
    handler = guard_handler(logging.FileHandler(log_path, encoding="utf-8"))
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("hexad.test_secrets")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        logger.info("opened %s", TEXTS["password"].format(SECRETS["password"]))
        logger.warning(f"request failed: {TEXTS['aws secret'].format(SECRETS['aws secret'])}")
        try:
            raise ValueError(TEXTS["github token"].format(SECRETS["github token"]))
        except ValueError:
            logger.exception("while reading %s", "settings.py")
    finally:
        logger.removeHandler(handler)
        handler.close()
    written = log_path.read_text(encoding="utf-8")
    assert "opened" in written and "Traceback" in written and "ValueError" in written
    assert [kind for kind, secret in SECRETS.items() if secret in written] == []


@pytest.mark.parametrize(
    ("name", "secret"),
    [
        ("OPENAI_API_KEY", True),
        ("GITHUB_TOKEN", True),
        ("AWS_SECRET_ACCESS_KEY", True),
        ("DB_PASSWORD", True),
        ("HEXAD_PASSPHRASE", True),
        ("PWD", False),
        ("OLDPWD", False),
        ("PATH", False),
        ("HOME", False),
        ("PYTHONPATH", False),
        ("VIRTUAL_ENV", False),
    ],
)
def test_secret_variables_by_name(name: str, secret: bool) -> None:
    assert is_secret_variable(name) is secret
    assert (name in without_secrets({name: "x", "PATH": "/bin"})) is not secret
