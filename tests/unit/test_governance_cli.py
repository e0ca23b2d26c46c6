"""`hexad policy check | explain | schema | ledger`, driven through click's runner."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from hexad.cli import cli
from hexad.governance.engine import Engine
from hexad.governance.ledger import Ledger
from hexad.governance.loader import load
from hexad.governance.model import Action, policy_schema_text

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policies"
ISSUE_LINE = re.compile(r"^(?P<file>[^:]+):(?P<line>\d+):(?P<col>\d+): (?P<sev>error|warning): ")


@pytest.fixture(autouse=True)
def _no_user_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXAD_USER_POLICY", "")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".hexad" / "policies").mkdir(parents=True)
    return root


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, ["policy", *args])
    return result.exit_code, result.stdout, result.stderr


def test_check_passes_on_the_shipped_policy(ws: Path) -> None:
    code, out, err = run("check", "-w", str(ws))
    assert (code, out) == (0, "")
    assert "1 policy file in force, 0 errors, 0 warnings" in err


def test_check_reports_file_line_col_and_field(ws: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    shutil.copy(FIXTURES / "broken.toml", ws / ".hexad" / "policies" / "broken.toml")
    shutil.copy(FIXTURES / "team.toml", ws / ".hexad" / "policies" / "team.toml")
    monkeypatch.chdir(ws)  # paths print relative to the current folder; -w is found from it
    code, out, err = run("check")
    assert code == 1
    lines = out.splitlines()
    assert lines[0] == (
        ".hexad/policies/broken.toml:4:19: error: budgets.tokens_per_task: "
        "input should be a valid integer, not a string"
    )
    assert len(lines) == 5 and all(ISSUE_LINE.match(line) for line in lines)
    assert "2 policy files in force, 5 errors, 0 warnings" in err


def test_check_extra_files_and_json(ws: Path) -> None:
    code, out, _ = run("check", "-w", str(ws), "--json", str(FIXTURES / "loosen.toml"))
    assert code == 1
    data = json.loads(out)
    assert data["ok"] is False
    assert [(i["line"], i["col"], i["field"]) for i in data["issues"]] == [
        (3, 12, "disable[0]"),
        (3, 42, "disable[1]"),
        (6, 18, "budgets.tokens_per_day"),
    ]
    code, out, _ = run("check", "-w", str(ws), "--json", str(FIXTURES / "team.toml"))
    assert code == 0 and json.loads(out)["ok"] is True
    assert len(json.loads(out)["files"]) == 2


def test_explain_prints_rules_budgets_and_route(ws: Path) -> None:
    action = {"kind": "edit", "paths": [".env", "src/a.py"], "task": "rename", "tokens": 10}
    code, out, _ = run("explain", "-w", str(ws), "--action", json.dumps(action))
    assert code == 0
    assert out.splitlines()[0] == "effect: deny"
    assert "builtin:protected: path '.env' matches protected '.env'" in out
    assert "policies/default.toml:" in out
    assert re.search(r"tokens_per_task\s+200000 of 200000 left, this action 10", out)
    assert "route: rename → structural" in out


def test_explain_sees_the_workspace_ledger(ws: Path) -> None:
    policy = load(ws).policy
    ledger = Ledger.open(ws)
    engine = Engine(policy, ws, ledger=ledger)
    for task in range(10):
        assert engine.decide(Action(kind="generate", task_id=str(task), tokens=199_900)).allowed
    ledger.close()
    code, out, _ = run(
        "explain", "-w", str(ws), "--json", "--action", '{"kind": "generate", "tokens": 2000}'
    )
    data = json.loads(out)
    assert code == 0
    assert data["effect"] == "deny" and data["rules"] == ["budget:tokens_per_day"]
    day = next(b for b in data["budgets"] if b["name"] == "tokens_per_day")
    assert (day["spent"], day["remaining"]) == (1_999_000, 1000)
    # explain is a dry run: the ledger holds only what decide recorded
    _, out, _ = run("ledger", "-w", str(ws), "--json")
    assert [e["type"] for e in json.loads(out)] == ["decision", "spend"] * 10


def test_explain_reports_a_broken_policy_and_goes_on(ws: Path) -> None:
    shutil.copy(FIXTURES / "broken.toml", ws / ".hexad" / "policies" / "broken.toml")
    code, out, err = run("explain", "-w", str(ws), "--action", '{"kind": "read"}')
    assert code == 0 and out.startswith("effect: allow")
    assert "policy file left out" in err and "broken.toml:4:19" in err


def test_schema_prints_checks_and_writes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    code, out, _ = run("schema")
    assert code == 0 and out == policy_schema_text()
    assert json.loads(out)["title"] == "Hexad policy file"
    code, _, err = run("schema", "--check")
    assert code == 0 and "up to date" in err
    monkeypatch.setattr("hexad.core.resources.data_dir", lambda name: tmp_path)
    (tmp_path / "schema.json").write_text("{}\n")
    code, _, err = run("schema", "--check")
    assert code == 1 and "hexad policy schema --write" in err
    code, _, _ = run("schema", "--write")
    assert code == 0 and (tmp_path / "schema.json").read_text() == policy_schema_text()


def test_ledger_lists_decisions_and_spends(ws: Path) -> None:
    code, out, err = run("ledger", "-w", str(ws))
    assert code == 0 and "no ledger yet" in err
    assert json.loads(run("ledger", "-w", str(ws), "--json")[1]) == []
    ledger = Ledger.open(ws)
    engine = Engine(load(ws).policy, ws, ledger=ledger)
    engine.decide(Action(kind="propose", task_id="t1", tokens=300))
    engine.decide(Action(kind="edit", task_id="t2", paths=(".env",)))
    ledger.close()
    code, out, _ = run("ledger", "-w", str(ws))
    lines = out.splitlines()
    assert code == 0 and len(lines) == 4
    assert "decision #1 task t1: propose → allow (no rule matched)" in lines[0]
    assert "spend #1 task t1: 300 tokens (reserve) for decision #1" in lines[1]
    assert "spend #2 task t1: 1 proposals (reserve) for decision #1" in lines[2]
    assert "decision #2 task t2: edit → deny (builtin:protected)" in lines[3]
    code, out, _ = run("ledger", "-w", str(ws), "--task", "t2", "--json")
    (entry,) = json.loads(out)
    assert (entry["type"], entry["effect"], entry["rules"]) == (
        "decision",
        "deny",
        ["builtin:protected"],
    )
    code, out, _ = run("ledger", "-w", str(ws), "--limit", "1", "--json")
    assert [e["id"] for e in json.loads(out)] == [2]
