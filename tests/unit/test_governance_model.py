"""Policy files: the schema, positioned errors, and fuzzed input that never crashes."""

from __future__ import annotations

import json
import math
import string
import textwrap
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hexad.core.resources import data_dir
from hexad.governance.loader import layer, parse
from hexad.governance.model import PolicyFile, policy_schema_text
from hexad.governance.source import Issue, format_field, source_map

FIXTURES = Path(__file__).parent.parent / "fixtures" / "policies"


def issues_of(text: str) -> list[Issue]:
    src, issues = parse(textwrap.dedent(text).lstrip("\n"), file="p.toml")
    assert (src is None) == any(i.severity == "error" for i in issues)
    return issues


def where(issue: Issue) -> tuple[int, int, str]:
    return issue.span.line, issue.span.col, issue.field


# --- the schema -------------------------------------------------------------------------


def test_schema_json_matches_the_models() -> None:
    """Drift check: regenerate with `hexad policy schema --write` when this fails."""
    shipped = (data_dir("policies") / "schema.json").read_text(encoding="utf-8")
    assert shipped == policy_schema_text()


def test_schema_is_closed_everywhere() -> None:
    schema = json.loads(policy_schema_text())
    assert schema["additionalProperties"] is False
    for name, definition in schema["$defs"].items():
        if definition.get("type") == "object" and "properties" in definition:
            assert definition.get("additionalProperties") is False, name


def test_shipped_policy_files_are_valid() -> None:
    files = sorted(data_dir("policies").glob("*.toml"))
    assert files
    for file in files:
        src, issues = parse(file.read_bytes(), file=str(file), layer="builtin")
        assert src is not None and issues == [], [i.format() for i in issues]


def test_the_example_in_the_policies_readme_is_valid() -> None:
    readme = (data_dir("policies") / "README.md").read_text(encoding="utf-8")
    block = readme.split("```toml\n", 1)[1].split("```", 1)[0]
    src, issues = parse(block, file="README.md", layer="workspace")
    assert src is not None, [i.format() for i in issues]


# --- positions --------------------------------------------------------------------------


def test_syntax_errors_carry_tomls_line_and_column() -> None:
    (issue,) = issues_of(
        """
        version = 1
        [budgets]
        tokens_per_task 5
        """
    )
    assert (issue.line, issue.col) == (3, 17)
    assert issue.message.startswith("TOML syntax:")
    assert issue.format() == f"p.toml:3:17: error: {issue.message}"


def test_unterminated_document_points_at_its_end() -> None:
    (issue,) = issues_of('version = 1\ndescription = "open')
    assert issue.line == 2


def test_wrong_type_points_at_the_value() -> None:
    (issue,) = issues_of(
        """
        [budgets]
        tokens_per_task = "lots"
        """
    )
    assert where(issue) == (2, 19, "budgets.tokens_per_task")
    assert issue.span.end_col == 25
    assert "valid integer, not a string" in issue.message


def test_unknown_key_points_at_the_key_and_suggests() -> None:
    (issue,) = issues_of(
        """
        [budgets]
        tokens_per_dya = 10
        """
    )
    assert where(issue) == (2, 1, "budgets.tokens_per_dya")
    assert issue.message == "unknown key 'tokens_per_dya' (did you mean 'tokens_per_day'?)"


def test_unknown_top_level_table() -> None:
    (issue,) = issues_of(
        """
        version = 1

        [budget]
        tokens_per_task = 1
        """
    )
    assert where(issue) == (3, 1, "budget")
    assert "did you mean 'budgets'" in issue.message


def test_errors_inside_arrays_of_tables_and_inline_tables() -> None:
    issues = issues_of(
        """
        [[rules]]
        id = "first"
        effect = "deny"
        why = "fine"

        [[rules]]
        id = "second"
        effect = "forbid"
        why = "wrong effect"
        when = { kinds = ["edit", "fly"], files_at_least = 0 }
        """
    )
    assert [where(i) for i in issues] == [
        (8, 10, "rules[1].effect"),
        (10, 27, "rules[1].when.kinds[1]"),
        (10, 52, "rules[1].when.files_at_least"),
    ]


def test_errors_in_sub_tables_of_an_array_of_tables() -> None:
    (issue,) = issues_of(
        """
        [[rules]]
        id = "a"
        effect = "deny"
        why = "x"

        [[rules]]
        id = "b"
        effect = "deny"
        why = "y"

        [rules.when]
        paths = [
          "ok/",
          "!negated",
        ]
        """
    )
    assert where(issue) == (14, 3, "rules[1].when.paths[1]")
    assert "negated globs" in issue.message


def test_missing_key_points_at_its_table() -> None:
    (issue,) = issues_of(
        """
        version = 1

        [[rules]]
        id = "no-why"
        effect = "deny"
        """
    )
    assert where(issue) == (3, 1, "rules[0].why")
    assert issue.message == "missing required key 'why'"


def test_missing_key_of_an_inline_rule() -> None:
    (issue,) = issues_of('rules = [{ id = "x", why = "y" }]\n')
    assert where(issue) == (1, 10, "rules[0].effect")


def test_dotted_and_quoted_keys() -> None:
    issues = issues_of(
        """
        budgets.tokens_per_task = -1
        "escalation"."cost_review" = 0.0
        routing.tasks.Implement.engine = "model"
        """
    )
    assert [where(i) for i in issues] == [
        (1, 27, "budgets.tokens_per_task"),
        (2, 30, "escalation.cost_review"),
        (3, 15, "routing.tasks.Implement"),
    ]
    assert issues[2].message.startswith("invalid name 'Implement': string should match")


def test_bad_glob_and_bad_threshold_order() -> None:
    issues = issues_of(
        """
        [protected]
        paths = ["ok", "a\\\\"]

        [escalation]
        proceed_at = 0.5
        escalate_below = 0.7
        """
    )
    assert [where(i) for i in issues] == [(2, 16, "protected.paths[1]"), (4, 1, "escalation")]
    assert "escalate_below must not be above proceed_at" in issues[1].message


def test_strict_types_never_coerce() -> None:
    issues = issues_of(
        """
        [budgets]
        files_per_edit = 2.0
        [[rules]]
        id = "x"
        effect = "deny"
        why = "y"
        hard = 1
        """
    )
    assert [i.field for i in issues] == ["budgets.files_per_edit", "rules[0].hard"]


def test_non_utf8_bytes_point_at_the_bad_byte() -> None:
    src, (issue,) = parse(b'version = 1\ndescription = "caf\xe9"\n', file="p.toml")
    assert src is None
    assert (issue.line, issue.col) == (2, 19)
    assert "UTF-8" in issue.message


def test_windows_line_endings_keep_positions() -> None:
    (issue,) = issues_of("version = 1\r\n[budgets]\r\nfiles_per_edit = 'x'\r\n")
    assert where(issue) == (3, 18, "budgets.files_per_edit")


def test_a_byte_order_mark_is_accepted() -> None:
    src, issues = parse("\ufeffversion = 1\n".encode(), file="p.toml")
    assert src is not None and issues == []


def test_fixture_with_many_errors_reports_each_at_its_place() -> None:
    src, issues = parse((FIXTURES / "broken.toml").read_bytes(), file="broken.toml")
    assert src is None
    assert [i.format() for i in issues] == [
        "broken.toml:4:19: error: budgets.tokens_per_task: input should be a valid integer,"
        " not a string",
        "broken.toml:5:1: error: budgets.tokens_per_dya: unknown key 'tokens_per_dya'"
        " (did you mean 'tokens_per_day'?)",
        "broken.toml:14:10: error: rules[1].effect: input should be 'require_approval',"
        " 'escalate' or 'deny'",
        "broken.toml:16:27: error: rules[1].when.kinds[1]: input should be 'read', 'plan',"
        " 'generate', 'propose', 'edit', 'create', 'delete', 'rename' or 'verify'",
        "broken.toml:16:52: error: rules[1].when.files_at_least: input should be greater than"
        " or equal to 1",
    ]


def test_issue_json_has_the_full_range() -> None:
    (issue,) = issues_of("[budgets]\ntokens_per_task = true\n")
    assert issue.to_json() == {
        "file": "p.toml",
        "line": 2,
        "col": 19,
        "end_line": 2,
        "end_col": 23,
        "severity": "error",
        "field": "budgets.tokens_per_task",
        "message": "input should be a valid integer, not a boolean",
    }


def test_source_map_spans() -> None:
    text = 'a = [1, [2, 3], { b = "x" }]\nc = """\nmulti\n"""\n[t]\n"k.q" = 1979-05-27 07:32:00Z\n'
    smap = source_map(text)
    assert smap.values[("a", 1, 0)].col == 10
    assert smap.values[("a", 2, "b")].col == 23
    assert smap.values[("c",)].end_line == 4
    assert smap.keys[("t", "k.q")].line == 6
    assert smap.values[("t", "k.q")].end_col == 29
    assert format_field(("t", "k.q", 0)) == 't."k.q"[0]'


# --- fuzzing: errors, never crashes -----------------------------------------------------

VALID = (FIXTURES / "team.toml").read_text(encoding="utf-8")
TOML_ALPHABET = string.ascii_letters + string.digits + " _-.=[]{}\"',#\n\t\\:+*!/"


BUILTIN = [
    parse(f.read_bytes(), file=str(f), layer="builtin")
    for f in sorted(data_dir("policies").glob("*.toml"))
]


def _never_crashes(text: str) -> None:
    src, issues = parse(text, file="fuzz.toml")
    if src is None:
        assert issues and all(i.severity == "error" for i in issues[:1])
    else:  # on top of the shipped files, too
        result, _ = layer([*BUILTIN, (src, issues)])
        assert result.policy.files[0].endswith("default.toml")
    for issue in issues:
        assert issue.span.line >= 1 and issue.span.col >= 1
        assert issue.span.line <= text.count("\n") + 2
        assert issue.format()


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(alphabet=TOML_ALPHABET, max_size=300))
def test_fuzzed_text_gives_errors_not_crashes(text: str) -> None:
    _never_crashes(text)


@settings(max_examples=300, deadline=None)
@given(st.data())
def test_mutated_valid_policy_gives_errors_not_crashes(data: st.DataObject) -> None:
    text = VALID
    for _ in range(data.draw(st.integers(1, 4))):
        at = data.draw(st.integers(0, len(text)))
        op = data.draw(st.sampled_from(["insert", "delete", "replace"]))
        chunk = data.draw(st.text(alphabet=TOML_ALPHABET, min_size=1, max_size=6))
        if op == "insert":
            text = text[:at] + chunk + text[at:]
        elif op == "delete":
            text = text[:at] + text[at + len(chunk) :]
        else:
            text = text[:at] + chunk + text[at + len(chunk) :]
    _never_crashes(text)


toml_scalars = st.one_of(
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.text(max_size=10),
)
toml_values = st.recursive(
    toml_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3), st.dictionaries(st.text(max_size=8), inner, max_size=3)
    ),
    max_leaves=12,
)
policy_keys = st.sampled_from(
    ["version", "budgets", "limits", "protected", "rules", "disable", "routing", "escalation"]
)


def _dump(data: dict[str, object]) -> str:
    """A small TOML writer for fuzzed documents (JSON literals are valid TOML values,
    except for NaN/Infinity, which are written TOML's way)."""

    def value(v: object) -> str:
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, float):
            if math.isnan(v):
                return "nan"
            if v in (float("inf"), float("-inf")):
                return "inf" if v > 0 else "-inf"
            return repr(v)
        if isinstance(v, int):
            return str(v)
        if isinstance(v, str):
            return json.dumps(v)
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        assert isinstance(v, dict)
        return "{" + ", ".join(f"{json.dumps(k)} = {value(x)}" for k, x in v.items()) + "}"

    return "".join(f"{json.dumps(k)} = {value(v)}\n" for k, v in data.items())


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(policy_keys, toml_values, max_size=5))
def test_fuzzed_structures_give_errors_not_crashes(data: dict[str, object]) -> None:
    _never_crashes(_dump(data))


@pytest.mark.parametrize(
    "text",
    [
        "a = " + "[" * 2000 + "]" * 2000,
        "a = " + "{b = " * 600 + "1" + "}" * 600,
        "[" * 50,
        "\x00",
        "version = 1\n" * 3,
        "rules = 5",
        "rules = [1, 2]",
        "[routing.tasks]\nx = 1",
        "[escalation]\ncost_review = inf",
        "[escalation]\ncost_review = nan",
        "[[rules]]\nid = 'x'\neffect = 'deny'\nwhy = 'y'\nwhen = 'always'",
    ],
)
def test_pathological_files(text: str) -> None:
    _never_crashes(text)


def test_policy_file_model_is_frozen() -> None:
    model = PolicyFile.model_validate({"version": 1})
    with pytest.raises(ValueError, match="frozen"):
        model.description = "x"
