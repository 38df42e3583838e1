"""A signing key of this installation's own: generated on first start, kept in a private file."""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from django.core.exceptions import ImproperlyConfigured
from django.core.management.utils import get_random_secret_key


def _read_key(path: Path) -> str:
    key = path.read_text(encoding="utf-8").strip()
    if not key:
        raise ImproperlyConfigured(f"{path} is empty: delete it to have a new key generated")
    return key


def load_or_create_secret_key(path: Path) -> str:
    """Return the key kept at path, generating it there (mode 0600) when the file is missing.

    Used by `make run` (SECRET_KEY_FILE), so sessions survive restarts without a key to set.
    """
    try:
        return _read_key(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    # Written in full under a temporary name (mkstemp makes it 0600), then linked into place:
    # a link never replaces a file, so processes starting at once all end up with one key,
    # and none can read a half-written file.
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            out.write(get_random_secret_key() + "\n")
        with contextlib.suppress(FileExistsError):  # another process was first: its key
            os.link(temporary, path)
    finally:
        os.unlink(temporary)
    return _read_key(path)
