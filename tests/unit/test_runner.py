"""Pure parts of the runchat supervisor."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from chat.server.runner import (
    MAX_RESTART_DELAY_S,
    bind_listener,
    prepare_metrics_dir,
    restart_delay,
)


@pytest.mark.parametrize(("failures", "delay"), [(0, 0.0), (1, 0.5), (2, 1.0), (3, 2.0), (4, 4.0)])
def test_restart_delay_doubles_for_children_that_keep_dying(failures: int, delay: float) -> None:
    """A healthy child restarts at once; a crash loop backs off."""
    assert restart_delay(failures) == delay


def test_restart_delay_is_capped() -> None:
    """Even a long crash loop retries at least every MAX_RESTART_DELAY_S."""
    assert restart_delay(50) == MAX_RESTART_DELAY_S


def test_listener_is_inheritable_and_listening() -> None:
    """Workers inherit the socket, so it must survive exec."""
    sock = bind_listener("127.0.0.1", 0)
    try:
        assert sock.get_inheritable()
        assert sock.getsockopt(socket.SOL_SOCKET, socket.SO_ACCEPTCONN) == 1
    finally:
        sock.close()


def test_a_configured_metrics_dir_loses_its_old_samples_and_nothing_else(tmp_path: Path) -> None:
    """Old *.db files would be summed into the new run; other files are not ours to delete."""
    (tmp_path / "counter_123.db").write_bytes(b"old")
    (tmp_path / "notes.txt").write_text("keep")
    path, own = prepare_metrics_dir(str(tmp_path))
    assert (path, own) == (tmp_path, False)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["notes.txt"]


def test_without_a_metrics_dir_runchat_makes_a_fresh_one_of_its_own() -> None:
    """Empty setting: a new empty directory each time, which runchat removes at exit."""
    first, own = prepare_metrics_dir("")
    second, _ = prepare_metrics_dir("")
    try:
        assert own and first != second
        assert first.is_dir() and not any(first.iterdir())
    finally:
        first.rmdir()
        second.rmdir()
