"""The generated signing key of `make run` (chatsite/secretkey.py)."""

from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from chatsite.secretkey import load_or_create_secret_key


def test_first_use_generates_a_long_key_in_a_private_file(tmp_path: Path) -> None:
    """A missing file (and folder) is created, readable by its owner only, holding the key."""
    path = tmp_path / "var" / "secret_key"
    key = load_or_create_secret_key(path)
    assert len(key) >= 50
    assert path.read_text().strip() == key
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert [p.name for p in path.parent.iterdir()] == ["secret_key"]  # no temporary left


def test_later_uses_return_the_same_key(tmp_path: Path) -> None:
    """The key is generated once and reused, so sessions survive a restart."""
    path = tmp_path / "secret_key"
    first = load_or_create_secret_key(path)
    assert load_or_create_secret_key(path) == first
    assert load_or_create_secret_key(path) != load_or_create_secret_key(tmp_path / "other")


def test_an_existing_file_is_used_as_it_is(tmp_path: Path) -> None:
    """A key an operator put there is read (surrounding whitespace dropped), never replaced."""
    path = tmp_path / "secret_key"
    path.write_text("  my-own-key\n")
    assert load_or_create_secret_key(path) == "my-own-key"
    assert path.read_text() == "  my-own-key\n"


def test_processes_starting_at_once_agree_on_one_key(tmp_path: Path) -> None:
    """Concurrent first starts (runchat's workers) all get the key that ended up in the file."""
    path = tmp_path / "secret_key"
    with ThreadPoolExecutor(8) as pool:
        keys = set(pool.map(lambda _: load_or_create_secret_key(path), range(32)))
    assert keys == {path.read_text().strip()}


def test_an_empty_file_stops_the_start(tmp_path: Path) -> None:
    """An empty key file is a mistake to report, not a key to sign with."""
    path = tmp_path / "secret_key"
    path.write_text("\n")
    with pytest.raises(ImproperlyConfigured, match="is empty"):
        load_or_create_secret_key(path)
