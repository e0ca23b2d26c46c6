"""The decision engine against the shipped policies, through `hexad policy explain`."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.cli import cli
from hexad.governance.engine import OUTSIDE_RULE, Engine
from hexad.governance.loader import load
from hexad.governance.model import Action
from hexad.governance.paths import PathResolver, is_case_insensitive
from hexad.governance.policy import Policy


@pytest.fixture(autouse=True)
def _no_user_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXAD_USER_POLICY", "")


def make_workspace(base: Path) -> Path:
    """A workspace with real files, a link to a secret and links leading out of it."""
    outside = base / "outside"
    (outside / "deep").mkdir(parents=True, exist_ok=True)
    (outside / "x.py").write_text("x = 1\n")
    ws = base / "ws"
    for rel in ("src/app.py", "src/App2.py", "tests/test_app.py", ".env", "sub/inner.py"):
        (ws / rel).parent.mkdir(parents=True, exist_ok=True)
        (ws / rel).write_text("\n")
    (ws / "link_env").symlink_to(".env")
    (ws / "escape").symlink_to(outside, target_is_directory=True)
    (ws / "link_in").symlink_to(ws / "src", target_is_directory=True)
    (ws / "src" / "sneaky.py").symlink_to(outside / "x.py")
    return ws


@pytest.fixture(scope="module")
def ws(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_workspace(tmp_path_factory.mktemp("engine"))


@pytest.fixture(scope="module")
def shipped() -> Policy:
    result = load(None, user_file=None)
    assert result.errors == []
    return result.policy


MODEL = {"engine": "model"}

# (name, action, expected effect, expected rules — all of them, strictest first)
TABLE: list[tuple[str, dict[str, Any], str, tuple[str, ...]]] = [
    ("plain edit", {"kind": "edit", "paths": ["src/app.py"], "lines_changed": 10}, "allow", ()),
    ("plain read", {"kind": "read", "paths": ["src/app.py"]}, "allow", ()),
    ("create a module", {"kind": "create", "paths": ["src/new.py"]}, "allow", ()),
    ("rename a module", {"kind": "rename", "paths": ["src/app.py", "src/main.py"]}, "allow", ()),
    ("five files", {"kind": "edit", "paths": [f"src/m{i}.py" for i in range(5)]}, "allow", ()),
    ("propose", {"kind": "propose", "paths": ["src/app.py"], "tokens": 900}, "allow", ()),
    ("plan", {"kind": "plan", "task": "implement", "tokens": 2000}, "allow", ()),
    ("verify 2 min", {"kind": "verify", "seconds": 120}, "allow", ()),
    ("sure edit", {"kind": "edit", "paths": ["src/app.py"], "confidence": 0.97}, "allow", ()),
    ("read .env", {"kind": "read", "paths": [".env"]}, "deny", ("builtin:secrets-stay-local",)),
    (
        "read a deep key",
        {"kind": "read", "paths": ["deploy/tls/site.key"]},
        "deny",
        ("builtin:secrets-stay-local",),
    ),
    ("edit .env", {"kind": "edit", "paths": [".env"]}, "deny", ("builtin:protected",)),
    (
        "edit .env.production",
        {"kind": "edit", "paths": ["config/.env.production"]},
        "deny",
        ("builtin:protected",),
    ),
    (
        "create a pem",
        {"kind": "create", "paths": ["certs/server.pem"]},
        "deny",
        ("builtin:protected",),
    ),
    (
        "edit a public key",
        {"kind": "edit", "paths": ["keys/id_rsa.pub"]},
        "deny",
        ("builtin:protected",),
    ),
    (
        "edit .git/config",
        {"kind": "edit", "paths": [".git/config"]},
        "deny",
        ("builtin:protected",),
    ),
    (
        "delete .git",
        {"kind": "delete", "paths": [".git"]},
        "deny",
        ("builtin:protected", "builtin:delete-files"),
    ),
    (
        "edit own policies",
        {"kind": "edit", "paths": [".hexad/policies/x.toml"]},
        "deny",
        ("builtin:protected",),
    ),
    ("edit .ssh", {"kind": "edit", "paths": [".ssh/config"]}, "deny", ("builtin:protected",)),
    ("dot-dot to .env", {"kind": "edit", "paths": ["src/../.env"]}, "deny", ("builtin:protected",)),
    ("symlink to .env", {"kind": "edit", "paths": ["link_env"]}, "deny", ("builtin:protected",)),
    (
        "read symlink to .env",
        {"kind": "read", "paths": ["link_env"]},
        "deny",
        ("builtin:secrets-stay-local",),
    ),
    ("parent folder", {"kind": "edit", "paths": ["../outside/x.py"]}, "deny", (OUTSIDE_RULE,)),
    ("absolute path", {"kind": "edit", "paths": ["/etc/passwd"]}, "deny", (OUTSIDE_RULE,)),
    ("dot-dot escape", {"kind": "create", "paths": ["src/../../x.py"]}, "deny", (OUTSIDE_RULE,)),
    ("symlinked folder out", {"kind": "edit", "paths": ["escape/x.py"]}, "deny", (OUTSIDE_RULE,)),
    (
        "read through link out",
        {"kind": "read", "paths": ["escape/deep/y.py"]},
        "deny",
        (OUTSIDE_RULE,),
    ),
    ("symlinked file out", {"kind": "edit", "paths": ["src/sneaky.py"]}, "deny", (OUTSIDE_RULE,)),
    ("empty path", {"kind": "edit", "paths": [""]}, "deny", (OUTSIDE_RULE,)),
    ("link inside stays inside", {"kind": "edit", "paths": ["link_in/app.py"]}, "allow", ()),
    (
        "public API",
        {"kind": "edit", "paths": ["src/app.py"], "public_api_changed": True},
        "require_approval",
        ("builtin:public-api",),
    ),
    (
        "tests touched",
        {"kind": "edit", "paths": ["tests/test_app.py"], "tests_touched": True},
        "require_approval",
        ("builtin:tests-touched",),
    ),
    (
        "six files",
        {"kind": "edit", "paths": [f"src/m{i}.py" for i in range(6)]},
        "require_approval",
        ("builtin:wide-edit",),
    ),
    (
        "files_touched counts",
        {"kind": "edit", "paths": ["src/app.py"], "files_touched": 7},
        "require_approval",
        ("builtin:wide-edit",),
    ),
    (
        "300 lines",
        {"kind": "edit", "paths": ["src/app.py"], "lines_changed": 300},
        "require_approval",
        ("builtin:large-edit",),
    ),
    (
        "delete a module",
        {"kind": "delete", "paths": ["src/old.py"]},
        "require_approval",
        ("builtin:delete-files",),
    ),
    (
        "pyproject",
        {"kind": "edit", "paths": ["pyproject.toml"]},
        "require_approval",
        ("builtin:dependency-manifests",),
    ),
    (
        "nested lock file",
        {"kind": "edit", "paths": ["web/package-lock.json"]},
        "require_approval",
        ("builtin:dependency-manifests",),
    ),
    (
        "uv.lock",
        {"kind": "edit", "paths": ["uv.lock"]},
        "require_approval",
        ("builtin:dependency-manifests",),
    ),
    (
        "CI workflow",
        {"kind": "create", "paths": [".github/workflows/release.yml"]},
        "require_approval",
        ("builtin:ci-config",),
    ),
    (
        "password symbol",
        {"kind": "edit", "paths": ["src/auth.py"], "symbols": ["auth.PasswordHasher.verify"]},
        "require_approval",
        ("builtin:security-sensitive",),
    ),
    (
        "vendored",
        {"kind": "edit", "paths": ["vendor/lib/x.go"]},
        "require_approval",
        ("builtin:vendored-code",),
    ),
    (
        "node_modules",
        {"kind": "edit", "paths": ["web/node_modules/x/index.js"]},
        "require_approval",
        ("builtin:vendored-code",),
    ),
    (
        "remote engine",
        {"kind": "generate", "engine": "remote:gpt", "tokens": 100},
        "require_approval",
        ("builtin:remote-inference",),
    ),
    (
        "unsure",
        {"kind": "edit", "paths": ["src/app.py"], "confidence": 0.5},
        "require_approval",
        ("escalation:review",),
    ),
    (
        "unsure model edit",
        {"kind": "edit", "paths": ["src/app.py"], "confidence": 0.25, **MODEL},
        "escalate",
        ("builtin:unsure-model-edit", "escalation:review"),
    ),
    (
        "hopeless",
        {"kind": "edit", "paths": ["src/app.py"], "confidence": 0.1, "engine": "structural"},
        "escalate",
        ("escalation:escalate",),
    ),
    (
        "21 files",
        {"kind": "edit", "paths": ["src/app.py"], "files_touched": 21},
        "deny",
        ("budget:files_per_edit", "builtin:wide-edit"),
    ),
    (
        "1001 lines",
        {"kind": "edit", "paths": ["src/app.py"], "lines_changed": 1001},
        "deny",
        ("budget:lines_per_edit", "builtin:large-edit"),
    ),
    ("huge prompt", {"kind": "generate", "tokens": 200_001}, "deny", ("budget:tokens_per_task",)),
    (
        "long test run",
        {"kind": "verify", "seconds": 301},
        "deny",
        ("budget:seconds_per_verification",),
    ),
    ("long task", {"kind": "plan", "seconds": 901}, "deny", ("budget:seconds_per_task",)),
    (
        "deny beats approval",
        {"kind": "edit", "paths": [".env", "pyproject.toml"], "public_api_changed": True},
        "deny",
        ("builtin:protected", "builtin:public-api", "builtin:dependency-manifests"),
    ),
]


def explain(ws: Path, action: dict[str, Any]) -> dict[str, Any]:
    result = CliRunner().invoke(
        cli, ["policy", "explain", "-w", str(ws), "--json", "--action", json.dumps(action)]
    )
    assert result.exit_code == 0, result.output
    data: dict[str, Any] = json.loads(result.stdout)
    return data


def test_the_table_is_large_enough() -> None:
    assert len(TABLE) >= 30
    assert len({name for name, *_ in TABLE}) == len(TABLE)
    assert {effect for *_, effect, _ in TABLE} == {"allow", "require_approval", "escalate", "deny"}


@pytest.mark.parametrize(("name", "action", "effect", "rules"), TABLE, ids=[t[0] for t in TABLE])
def test_explain_answers_the_table(
    ws: Path, name: str, action: dict[str, Any], effect: str, rules: tuple[str, ...]
) -> None:
    data = explain(ws, action)
    assert (data["effect"], tuple(data["rules"])) == (effect, rules), data["reasons"]
    for reason in data["reasons"]:
        assert reason["why"]
        if reason["rule"].startswith("builtin:"):
            assert reason["source"].startswith("policies/default.toml:")


def test_explain_shows_budgets_route_and_escalation(ws: Path) -> None:
    data = explain(
        ws,
        {
            "kind": "edit",
            "task": "implement",
            "paths": ["src/app.py"],
            "tokens": 1500,
            "confidence": 0.5,
        },
    )
    tokens = next(b for b in data["budgets"] if b["name"] == "tokens_per_task")
    assert tokens == {
        "name": "tokens_per_task",
        "scope": "task",
        "limit": 200_000,
        "spent": 0.0,
        "requested": 1500,
        "remaining": 200_000,
        "exceeded": False,
        "source": "policies/default.toml:10",
    }
    assert data["route"]["engine"] == "model" and data["route"]["model"] == "local"
    assert data["escalation"] == "review"
    assert data["files"] == ["policies/default.toml"]


def test_reasons_say_why_they_matched(ws: Path, shipped: Policy) -> None:
    decision = Engine(shipped, ws).explain(
        Action(kind="edit", paths=("link_env",), engine="model", confidence=0.2)
    )
    protected = decision.reasons[0]
    assert protected.rule == "builtin:protected"
    assert protected.why == "path '.env' matches protected '.env'"
    unsure = next(r for r in decision.reasons if r.rule == "builtin:unsure-model-edit")
    assert "engine model matches 'model*'" in unsure.why
    assert "confidence 0.2 < 0.3" in unsure.why


def test_outside_reasons_name_the_real_target(ws: Path, shipped: Policy) -> None:
    decision = Engine(shipped, ws).explain(Action(kind="edit", paths=("escape/x.py",)))
    (reason,) = decision.reasons
    assert "through a symbolic link" in reason.why
    assert str(ws.parent / "outside" / "x.py") in reason.why


def test_an_invalid_action_is_a_clear_cli_error(ws: Path) -> None:
    result = CliRunner().invoke(
        cli, ["policy", "explain", "-w", str(ws), "--action", '{"kind": "fly", "bogus": 1}']
    )
    assert result.exit_code == 2
    assert "kind" in result.output and "bogus" in result.output


# --- paths ------------------------------------------------------------------------------


def test_this_file_system_is_probed_not_guessed(tmp_path: Path) -> None:
    folder = tmp_path / "Probe"
    folder.mkdir()
    assert is_case_insensitive(folder) == os.path.exists(tmp_path / "pROBE")


def test_case_insensitive_file_systems_match_ignoring_case(ws: Path, shipped: Policy) -> None:
    engine = Engine(shipped, ws, case_insensitive=True)
    assert engine.explain(Action(kind="edit", paths=(".ENV",))).effect == "deny"
    assert engine.explain(Action(kind="edit", paths=("Config/Server.PEM",))).effect == "deny"
    resolved = engine.paths.resolve("SRC/APP2.PY")
    assert resolved.resolved == "src/App2.py"  # the on-disk spelling
    sensitive = Engine(shipped, ws, case_insensitive=False)
    assert sensitive.explain(Action(kind="edit", paths=("Config/Server.PEM",))).effect == "allow"


def test_resolution_forms(ws: Path) -> None:
    resolver = PathResolver(ws)
    link = resolver.resolve("link_env")
    assert (link.lexical, link.resolved, link.forms()) == ("link_env", ".env", (".env", "link_env"))
    assert resolver.resolve(str(ws / "src" / "app.py")).resolved == "src/app.py"
    assert resolver.resolve(".").resolved == "."
    assert not resolver.resolve("a\x00b").inside


SEGMENTS = ["..", ".", "src", "sub", "a.py", "escape", "link_in", "deep", "ws"]


def _oracle_inside(ws: Path, segments: list[str], absolute: bool) -> bool:
    """Walk the segments by hand, following the two links this workspace has."""
    real_ws = Path(os.path.realpath(ws))
    here = Path("/") if absolute else real_ws
    for segment in segments:
        if segment == ".":
            continue
        if segment == "..":
            here = here.parent
            continue
        here = here / segment
        if here == real_ws / "escape":
            here = real_ws.parent / "outside"
        elif here == real_ws / "link_in":
            here = real_ws / "src"
    return here == real_ws or real_ws in here.parents


@settings(max_examples=400, deadline=None)
@given(
    st.lists(st.sampled_from(SEGMENTS), min_size=1, max_size=7),
    st.booleans(),
    st.sampled_from(["read", "edit", "create", "delete", "rename", "verify"]),
)
def test_paths_escaping_the_workspace_are_always_denied(
    ws: Path, shipped: Policy, segments: list[str], absolute: bool, kind: str
) -> None:
    real_ws = os.path.realpath(ws)
    if absolute:
        segments = [*real_ws.strip("/").split("/"), *segments]
    path = ("/" if absolute else "") + "/".join(segments)
    decision = Engine(shipped, ws).explain(Action.model_validate({"kind": kind, "paths": [path]}))
    denied_outside = OUTSIDE_RULE in decision.rules
    assert denied_outside == (not _oracle_inside(ws, segments, absolute)), path
    if denied_outside:
        assert decision.effect == "deny"
