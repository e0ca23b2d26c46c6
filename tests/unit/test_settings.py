"""Client settings: valid values kept, invalid ones reported once and defaulted."""

from __future__ import annotations

from hexad.core.settings import Settings, parse_settings


def test_defaults_when_nothing_is_sent() -> None:
    assert parse_settings(None) == (Settings(), [])


def test_valid_values_are_kept_and_nesting_under_hexad_works() -> None:
    settings, problems = parse_settings({"hexad": {"jedi": False, "index": {"workers": 2}}})
    assert problems == []
    assert settings.jedi is False and settings.index.workers == 2


def test_each_bad_value_is_reported_and_replaced_the_rest_kept() -> None:
    settings, problems = parse_settings(
        {"index": {"workers": 0, "debounce_ms": 50}, "log_level": "loud", "bogus": 1}
    )
    assert settings.index.workers is None  # the default
    assert settings.index.debounce_ms == 50  # kept
    assert settings.log_level == "info"
    assert sorted(problems) == sorted(
        [
            "setting index.workers: Input should be greater than or equal to 1; using the default",
            "setting log_level: Input should be 'debug', 'info', 'warning' or 'error'; "
            "using the default",
            "unknown setting bogus; ignored",
        ]
    )


def test_a_non_object_is_rejected_as_a_whole() -> None:
    settings, problems = parse_settings(["not", "an", "object"])
    assert settings == Settings()
    assert problems == ["settings must be an object, got list; using defaults"]
