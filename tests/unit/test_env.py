"""Reading settings from the environment."""

from __future__ import annotations

import pytest

from chatsite.env import env_bool, env_int, env_list, env_str


def test_unset_and_empty_values_fall_back_to_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """An empty variable is as good as unset for strings and ints."""
    monkeypatch.delenv("X_STR", raising=False)
    monkeypatch.setenv("X_INT", "")
    assert env_str("X_STR", "d") == "d"
    assert env_int("X_INT", 7) == 7


@pytest.mark.parametrize(
    ("raw", "value"), [("1", True), ("yes", True), ("OFF", False), ("0", False)]
)
def test_booleans_accept_common_spellings(
    monkeypatch: pytest.MonkeyPatch, raw: str, value: bool
) -> None:
    """1/0, yes/no, on/off, true/false in any case."""
    monkeypatch.setenv("X_BOOL", raw)
    assert env_bool("X_BOOL", not value) is value


def test_malformed_values_fail_loudly(monkeypatch: pytest.MonkeyPatch) -> None:
    """A typo in the environment stops the start instead of being ignored."""
    monkeypatch.setenv("X_INT", "ten")
    monkeypatch.setenv("X_BOOL", "maybe")
    with pytest.raises(ValueError, match="X_INT"):
        env_int("X_INT", 1)
    with pytest.raises(ValueError, match="X_BOOL"):
        env_bool("X_BOOL", True)


def test_lists_are_comma_separated_without_blanks(monkeypatch: pytest.MonkeyPatch) -> None:
    """Trailing commas and spaces are forgiven."""
    monkeypatch.setenv("X_LIST", " a.example, b.example ,,")
    assert env_list("X_LIST", []) == ["a.example", "b.example"]
