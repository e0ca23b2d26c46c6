"""Layering: built-in < user < workspace; deny beats everything; hard limits hold."""

from __future__ import annotations

import itertools
import shutil
import textwrap
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from hexad.governance.engine import Engine
from hexad.governance.loader import PolicyStore, layer, load, parse
from hexad.governance.model import BUDGET_NAMES, EFFECT_RANK, Action
from hexad.governance.policy import Policy, PolicySource
from hexad.governance.source import Issue

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policies"


@pytest.fixture(autouse=True)
def _no_user_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HEXAD_USER_POLICY", "")


@pytest.fixture
def ws(tmp_path: Path) -> Path:
    root = tmp_path / "ws"
    (root / ".hexad" / "policies").mkdir(parents=True)
    return root


def write_policy(root: Path, name: str, text: str) -> Path:
    path = root / ".hexad" / "policies" / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def effect(policy: Policy, root: Path, **action: object) -> str:
    return Engine(policy, root).explain(Action.model_validate(action)).effect


def rules_of(policy: Policy, root: Path, **action: object) -> tuple[str, ...]:
    return Engine(policy, root).explain(Action.model_validate(action)).rules


# --- the shipped layers with a team's workspace file ------------------------------------


def test_workspace_file_layers_on_top_of_the_builtin(ws: Path) -> None:
    shutil.copy(FIXTURES / "team.toml", ws / ".hexad" / "policies" / "team.toml")
    result = load(ws)
    assert result.errors == []
    policy = result.policy
    assert policy.files == ("policies/default.toml", ".hexad/policies/team.toml")
    assert policy.budget("tokens_per_task").value == 50_000  # soft budget lowered
    assert policy.budget("files_per_edit").value == 8
    # a workspace limit below the built-in budget caps it
    day = policy.budget("tokens_per_day")
    assert (day.soft, day.hard, day.value) == (2_000_000, 500_000, 500_000)
    assert str(day.hard_origin) == ".hexad/policies/team.toml:12"
    # wide-edit disabled: 7 plain files need no approval (files_per_edit is 8)
    assert effect(policy, ws, kind="edit", paths=[f"src/m{i}.py" for i in range(7)]) == "allow"
    assert [name for name, _ in policy.disabled] == ["builtin:wide-edit"]
    # its additions are in force next to the built-in ones
    assert rules_of(policy, ws, kind="edit", paths=["app/migrations/0001.py"]) == (
        "workspace:migrations",
    )
    assert effect(policy, ws, kind="edit", paths=["docs/api/index.md"]) == "deny"
    assert rules_of(policy, ws, kind="delete", paths=["deploy/secrets/db.txt"])[0] == (
        "workspace:protected"
    )
    assert effect(policy, ws, kind="edit", paths=[".env"]) == "deny"  # built-in still holds
    route = policy.route("implement")
    assert route is not None and route.route.engine == "structural"


def test_a_workspace_cannot_loosen_the_builtin(ws: Path) -> None:
    shutil.copy(FIXTURES / "loosen.toml", ws / ".hexad" / "policies" / "loosen.toml")
    result = load(ws)
    messages = [(i.field, i.severity) for i in result.errors]
    assert messages == [
        ("disable[0]", "error"),  # a deny rule
        ("disable[1]", "error"),  # a hard rule
        ("budgets.tokens_per_day", "error"),  # above the hard limit
    ]
    assert result.policy.files == ("policies/default.toml",)  # the file is left out whole
    assert result.policy.budget("tokens_per_day").value == 2_000_000
    assert effect(result.policy, ws, kind="read", paths=[".env"]) == "deny"


def test_limits_only_tighten(ws: Path) -> None:
    write_policy(
        ws,
        "a.toml",
        """
        [limits]
        files_per_edit = 500
        lines_per_edit = 50
        min_proceed_at = 0.1
        """,
    )
    result = load(ws)
    assert result.errors == []
    warnings = {i.field: i.message for found in result.issues.values() for i in found}
    assert set(warnings) == {"limits.files_per_edit", "limits.min_proceed_at"}
    assert "the lower one applies" in warnings["limits.files_per_edit"]
    assert result.policy.budget("files_per_edit").hard == 200
    assert result.policy.budget("lines_per_edit").value == 50  # tightened below the budget
    assert result.policy.escalation.min_proceed_at == 0.6


def test_budgets_may_rise_up_to_the_hard_limit(ws: Path) -> None:
    write_policy(ws, "a.toml", "[budgets]\ntokens_per_task = 2_000_000\n")
    result = load(ws)
    assert result.errors == []
    assert result.policy.budget("tokens_per_task").value == 2_000_000


def test_escalation_threshold_cannot_go_below_the_hard_floor(ws: Path) -> None:
    write_policy(ws, "a.toml", "[escalation]\nproceed_at = 0.5\n")
    (issue,) = load(ws).errors
    assert (issue.field, issue.line, issue.col) == ("escalation.proceed_at", 2, 14)
    assert "min_proceed_at = 0.6" in issue.message
    # cheap mistakes would derive a low threshold: the floor holds it up
    write_policy(ws, "a.toml", "[escalation]\ncost_wrong_edit = 4.0\n")
    policy = load(ws).policy
    assert policy.escalation.derived[0] < 0.6
    assert policy.escalation.proceed_at == 0.6


def test_escalation_economics() -> None:
    policy = load(None).policy
    esc = policy.escalation
    assert (esc.proceed_at, esc.escalate_below) == (0.9333, 0.2)
    assert [esc.choose(p) for p in (0.99, 0.9333, 0.93, 0.5, 0.2, 0.19, 0.0)] == [
        "proceed",
        "proceed",
        "review",
        "review",
        "review",
        "escalate",
        "escalate",
    ]


def test_user_layer_sits_between_builtin_and_workspace(ws: Path, tmp_path: Path) -> None:
    user = tmp_path / "user.toml"
    user.write_text(
        textwrap.dedent(
            """
            disable = ["builtin:public-api"]
            [limits]
            tokens_per_task = 100_000
            [[rules]]
            id = "legacy"
            effect = "deny"
            why = "the legacy folder is frozen"
            when = { paths = ["legacy/"] }
            [[rules]]
            id = "reviews"
            effect = "require_approval"
            hard = true
            why = "I review renames"
            when = { kinds = ["rename"] }
            [[rules]]
            id = "soft"
            effect = "escalate"
            why = "ask a stronger engine about scripts"
            when = { paths = ["scripts/"] }
            """
        ),
        encoding="utf-8",
    )
    write_policy(
        ws,
        "w.toml",
        """
        disable = ["user:soft"]
        """,
    )
    result = load(ws, user_file=user)
    assert result.errors == []
    policy = result.policy
    assert policy.files[1].endswith("user.toml")
    assert effect(policy, ws, kind="edit", paths=["a.py"], public_api_changed=True) == "allow"
    assert effect(policy, ws, kind="read", paths=["legacy/x.py"]) == "deny"
    assert effect(policy, ws, kind="edit", paths=["scripts/x.sh"]) == "allow"
    assert effect(policy, ws, kind="rename", paths=["a.py"]) == "require_approval"
    # the workspace cannot undo the user's deny, hard rule, or limit
    write_policy(
        ws,
        "w.toml",
        """
        disable = ["user:legacy", "user:reviews"]
        [budgets]
        tokens_per_task = 150_000
        """,
    )
    errors = load(ws, user_file=user).errors
    assert [i.field for i in errors] == ["disable[0]", "disable[1]", "budgets.tokens_per_task"]
    assert "user.toml:4" in errors[2].message


def test_disabling_an_unknown_rule_warns(ws: Path) -> None:
    write_policy(ws, "a.toml", 'disable = ["builtin:no-such-rule"]\n')
    result = load(ws)
    (issue,) = next(iter(result.issues.values()))
    assert (issue.severity, issue.line, issue.col) == ("warning", 1, 12)
    assert result.policy.files[-1] == ".hexad/policies/a.toml"


def test_duplicate_rule_ids_in_one_layer(ws: Path) -> None:
    rule = '[[rules]]\nid = "x"\neffect = "deny"\nwhy = "y"\n'
    write_policy(ws, "a.toml", rule)
    write_policy(ws, "b.toml", rule)
    (issue,) = load(ws).errors
    assert issue.file.endswith("b.toml") and issue.field == "rules[0].id"
    assert "duplicate rule workspace:x (first at .hexad/policies/a.toml:1)" in issue.message
    src, issues = parse(rule + rule, file="p.toml")
    assert src is None and issues[0].line == 6


def test_files_in_a_layer_apply_in_name_order(ws: Path) -> None:
    write_policy(ws, "20-late.toml", "[budgets]\nfiles_per_edit = 3\n")
    write_policy(ws, "10-early.toml", "[budgets]\nfiles_per_edit = 9\n")
    policy = load(ws).policy
    assert policy.budget("files_per_edit").value == 3
    assert policy.files[1:] == (".hexad/policies/10-early.toml", ".hexad/policies/20-late.toml")


# --- the editor's view: last valid version, unsaved text --------------------------------


def test_a_broken_file_keeps_its_last_valid_version(ws: Path) -> None:
    path = write_policy(
        ws,
        "team.toml",
        """
        [[rules]]
        id = "gate"
        effect = "deny"
        why = "no touching"
        when = { paths = ["core/"] }
        """,
    )
    store = PolicyStore(ws)
    assert effect(store.policy, ws, kind="edit", paths=["core/a.py"]) == "deny"
    issues = store.set_text(path, '[[rules]]\nid = "gate"\neffect = "deny"\nwhy = \n')
    assert [(i.line, i.col) for i in issues] == [(4, 7)]
    assert effect(store.policy, ws, kind="edit", paths=["core/a.py"]) == "deny"
    assert ".hexad/policies/team.toml" in store.policy.files
    # a valid edit replaces it; closing the buffer goes back to the disk
    assert store.set_text(path, "version = 1\n") == []
    assert effect(store.policy, ws, kind="edit", paths=["core/a.py"]) == "allow"
    assert store.set_text(path, None) == []
    assert effect(store.policy, ws, kind="edit", paths=["core/a.py"]) == "deny"


def test_an_engine_follows_its_store(ws: Path) -> None:
    path = write_policy(ws, "a.toml", "version = 1\n")
    store = PolicyStore(ws)
    engine = Engine(store, ws)
    action = Action(kind="edit", paths=("x.py",))
    assert engine.explain(action).effect == "allow"
    store.set_text(path, '[protected]\npaths = ["x.py"]\n')
    assert engine.explain(action).effect == "deny"


def test_check_text_sees_other_layers_and_changes_nothing(ws: Path) -> None:
    write_policy(ws, "a.toml", "[limits]\nfiles_per_edit = 10\n")
    store = PolicyStore(ws)
    before = store.policy
    target = ws / ".hexad" / "policies" / "b.toml"  # not on disk yet
    (issue,) = store.check_text(target, "# new\n[budgets]\nfiles_per_edit = 11\n")
    assert (issue.line, issue.col, issue.field) == (3, 18, "budgets.files_per_edit")
    assert "a.toml:2" in issue.message
    assert store.check_text(target, "[budgets]\nfiles_per_edit = 10\n") == []
    assert store.policy is before
    # an unsaved new file in the policy folder takes effect through set_text
    store.set_text(target, '[protected]\npaths = ["new/"]\n')
    assert effect(store.policy, ws, kind="edit", paths=["new/x"]) == "deny"


# --- properties -------------------------------------------------------------------------

KINDS = ["read", "edit", "delete", "propose"]
PATHS = ["src/a.py", "tests/test_a.py", "docs/x.md", "a.lock"]
GLOBS = ["src/", "*.py", "tests/", "*.md", "*.lock", "docs/"]

conditions = st.fixed_dictionaries(
    {},
    optional={
        "kinds": st.lists(st.sampled_from(KINDS), min_size=1, max_size=2),
        "paths": st.lists(st.sampled_from(GLOBS), min_size=1, max_size=2),
        "files_at_least": st.integers(1, 4),
        "tests_touched": st.booleans(),
    },
)
rules = st.lists(
    st.tuples(st.sampled_from(["deny", "require_approval", "escalate"]), conditions, st.booleans()),
    max_size=4,
)
actions: st.SearchStrategy[dict[str, object]] = st.builds(
    dict,
    kind=st.sampled_from(KINDS),
    paths=st.lists(st.sampled_from(PATHS), max_size=3),
    tests_touched=st.booleans(),
)


def _policy_text(index: int, file_rules: list[tuple[str, dict[str, object], bool]]) -> str:
    out = []
    for n, (rule_effect, when, hard) in enumerate(file_rules):
        parts = []
        for key, value in when.items():
            if isinstance(value, bool):
                parts.append(f"{key} = {'true' if value else 'false'}")
            elif isinstance(value, int):
                parts.append(f"{key} = {value}")
            else:
                assert isinstance(value, list)
                parts.append(f"{key} = [{', '.join(repr(v) for v in value)}]")
        out.append(
            f'[[rules]]\nid = "f{index}-r{n}"\neffect = "{rule_effect}"\nwhy = "w"\n'
            f"hard = {'true' if hard else 'false'}\nwhen = {{ {', '.join(parts)} }}\n"
        )
    return "".join(out)


def _sources(texts: list[str]) -> list[tuple[PolicySource | None, list[Issue]]]:
    return [parse(t, file=f"/p/{i}.toml", label=f"{i}.toml") for i, t in enumerate(texts)]


@settings(max_examples=150, deadline=None)
@given(st.lists(rules, min_size=1, max_size=4), actions)
def test_deny_wins_whatever_the_order_of_files(
    files: list[list[tuple[str, dict[str, object], bool]]], action: dict[str, object]
) -> None:
    root = Path("/nonexistent-ws")
    parsed = _sources([_policy_text(i, r) for i, r in enumerate(files)])
    assert all(src is not None for src, _ in parsed)
    alone = [
        Engine(layer([p])[0].policy, root).explain(Action.model_validate(action)) for p in parsed
    ]
    strongest = max((d.effect for d in alone), key=EFFECT_RANK.__getitem__)
    for order in itertools.permutations(parsed):
        merged = layer(list(order))[0].policy
        decision = Engine(merged, root).explain(Action.model_validate(action))
        assert decision.effect == strongest
        if any(d.effect == "deny" for d in alone):
            assert decision.effect == "deny"


@settings(max_examples=100, deadline=None)
@given(
    st.lists(
        st.dictionaries(st.sampled_from(BUDGET_NAMES), st.integers(0, 10**6), max_size=3),
        min_size=1,
        max_size=4,
    )
)
def test_hard_limits_are_the_lowest_whatever_the_order(limits: list[dict[str, int]]) -> None:
    texts = ["[limits]\n" + "".join(f"{k} = {v}\n" for k, v in lim.items()) for lim in limits]
    parsed = _sources(texts)
    expected = {
        name: min((lim[name] for lim in limits if name in lim), default=None)
        for name in BUDGET_NAMES
    }
    for order in itertools.permutations(parsed):
        policy = layer(list(order))[0].policy
        assert {n: policy.budget(n).hard for n in BUDGET_NAMES} == expected
