"""Pure parts of the runchat supervisor."""

from __future__ import annotations

import socket

import pytest

from chat.runner import MAX_RESTART_DELAY_S, bind_listener, restart_delay


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
