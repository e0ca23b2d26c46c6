"""Prompt templates as packaged data: they load, render, and identify themselves."""

from __future__ import annotations

from pathlib import Path

import pytest

from hexad.inference.prompts import PromptError, all_prompts, load_template, prompt


def test_every_packaged_prompt_loads_and_renders() -> None:
    templates = all_prompts()
    assert {t.name for t in templates} >= {"implement", "write_test", "fix_test", "plan"}
    for template in templates:
        values = {name: f"<{name}>" for name in template.placeholders()}
        request = template.render(**values)
        assert request.template == template.ref
        text = "\n".join(m.content for m in request.messages)
        assert all(f"<{name}>" in text for name in values)
        assert "$" not in text.replace("$ ", "")  # nothing left unfilled
    assert (
        prompt("plan").schema is not None
        and prompt("plan").render(repo_map="m", notes="n", task="t").json_schema
        == prompt("plan").schema
    )


def test_code_with_braces_and_dollars_is_data() -> None:
    code = "def f(d):\n    return {'a': d['$x']}"
    request = prompt("implement").render(
        notes="", context=code, language="python", signature="def f(d):"
    )
    assert code in request.messages[-1].content


def test_a_missing_value_is_named() -> None:
    with pytest.raises(PromptError, match="needs context, signature"):
        prompt("implement").render(notes="", language="python")


def test_the_hash_follows_the_bytes_and_bad_files_are_errors(tmp_path: Path) -> None:
    path = tmp_path / "greet.toml"
    path.write_text('name = "greet"\nversion = "1"\nuser = "Hello $who"\n', encoding="utf-8")
    first = load_template(path)
    path.write_text('name = "greet"\nversion = "1"\nuser = "Hi $who"\n', encoding="utf-8")
    second = load_template(path)
    assert first.version == second.version and first.hash != second.hash
    assert first.label.startswith("greet@1#")

    path.write_text('name = "other"\nversion = "1"\nuser = "x"\n', encoding="utf-8")
    with pytest.raises(PromptError, match="name it 'greet'"):
        load_template(path)
    path.write_text('name = "greet"\nuser = "x"\n', encoding="utf-8")
    with pytest.raises(PromptError, match="malformed"):
        load_template(path)
    path.write_bytes(b"\xff\xfe not toml")
    with pytest.raises(PromptError, match="cannot read"):
        load_template(path)
    with pytest.raises(PromptError, match="no prompt named 'nope'"):
        prompt("nope")
