"""Production safety of the settings module."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from chatsite.settings import DEV_SECRET_KEY

ROOT = Path(__file__).resolve().parents[2]
# What these tests set themselves; the caller's values of them are dropped.
CONTROLLED = ("DEBUG", "SECRET_KEY", "SECRET_KEY_FILE", "CHAT_HTTPS")


def load_settings(**env: str) -> subprocess.CompletedProcess[str]:
    """Import the settings in a fresh interpreter with the given environment."""
    clean = {k: v for k, v in os.environ.items() if k not in CONTROLLED}
    return subprocess.run(
        [
            sys.executable,
            "-c",
            "import chatsite.settings as s; "
            "print(s.DEBUG, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE, s.SECRET_KEY)",
        ],
        cwd=ROOT,
        env={**clean, **env},
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_production_refuses_the_default_secret_key() -> None:
    """DEBUG=0 without a SECRET_KEY must not start."""
    result = load_settings(DEBUG="0")
    assert result.returncode != 0
    assert "SECRET_KEY must be set" in result.stderr


def test_production_with_a_secret_key_uses_secure_cookies() -> None:
    """DEBUG=0 with a real key starts, and cookies are marked secure."""
    result = load_settings(DEBUG="0", SECRET_KEY="x" * 50)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["False", "True", "True", "x" * 50]


def test_development_defaults_keep_plain_cookies_and_the_development_key() -> None:
    """Without DEBUG (the test suite's servers) it is development mode, as before."""
    result = load_settings()
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["True", "False", "False", DEV_SECRET_KEY]


def test_production_takes_its_key_from_the_key_file(tmp_path: Path) -> None:
    """DEBUG=0 with SECRET_KEY_FILE (`make run`) starts; the key made at first is kept."""
    path = tmp_path / "secret_key"
    first = load_settings(DEBUG="0", SECRET_KEY_FILE=str(path))
    assert first.returncode == 0, first.stderr
    key = first.stdout.split()[-1]
    assert path.read_text().strip() == key != DEV_SECRET_KEY
    again = load_settings(DEBUG="0", SECRET_KEY_FILE=str(path))
    assert again.stdout.split()[-1] == key


def test_an_explicit_secret_key_wins_over_the_key_file(tmp_path: Path) -> None:
    """SECRET_KEY set: the file is neither read nor created."""
    path = tmp_path / "secret_key"
    result = load_settings(DEBUG="0", SECRET_KEY="y" * 50, SECRET_KEY_FILE=str(path))
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "y" * 50
    assert not path.exists()


@pytest.mark.parametrize(
    ("debug", "https", "secure"),
    [("0", "0", "False"), ("0", "1", "True"), ("1", "1", "True"), ("1", "", "False")],
)
def test_chat_https_decides_whether_cookies_are_secure(debug: str, https: str, secure: str) -> None:
    """CHAT_HTTPS=0 lets a DEBUG=0 server keep logins over plain HTTP (`make run`)."""
    result = load_settings(DEBUG=debug, SECRET_KEY="x" * 50, CHAT_HTTPS=https)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[1:3] == [secure, secure]


def test_make_run_serves_with_debug_off_a_kept_key_and_collected_static_files() -> None:
    """The run target's defaults (the environment's values win: `DEBUG=1 make run`)."""
    makefile = (ROOT / "Makefile").read_text()
    for line in (
        "run: export DEBUG ?= 0",
        "run: export SECRET_KEY_FILE ?= $(CURDIR)/var/secret_key",
        "run: export CHAT_HTTPS ?= 0",
    ):
        assert re.search(rf"^{re.escape(line)}$", makefile, flags=re.MULTILINE), line
    assert "manage.py collectstatic --noinput" in makefile
