"""Plain HTTP endpoints of a running server: the page's headers and the health probes."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from collections.abc import Iterator

import pytest

from tests.chatserver import ChatServer, free_port, run_chat_server
from tests.conftest import require_services


@pytest.fixture(scope="module")
def server() -> Iterator[ChatServer]:
    """One single-worker server for the module."""
    require_services()
    with run_chat_server(workers=1) as running:
        yield running


def get(url: str) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a GET, errors included."""
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, dict(exc.headers), exc.read()


def test_page_forbids_inline_script_and_framing(server: ChatServer) -> None:
    """The chat page carries a CSP that allows only our own scripts and styles."""
    status, headers, body = get(server.http_url + "/r/dev/")
    assert status == 200
    csp = headers["Content-Security-Policy"]
    assert "script-src 'self'" in csp
    assert "frame-ancestors 'none'" in csp
    assert b"<script>" not in body  # every script is a file, none inline


@pytest.mark.parametrize(
    "path", ["/", "/accounts/login/", "/admin/login/", "/api/docs", "/api/rooms", "/nowhere"]
)
def test_every_response_carries_the_security_headers(server: ChatServer, path: str) -> None:
    """Pages, the admin, the API and its docs, errors: one set of headers for all."""
    status, headers, _ = get(server.http_url + path)
    assert status in (200, 404)
    assert "script-src 'self'" in headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in headers["Content-Security-Policy"]
    assert headers["X-Content-Type-Options"] == "nosniff"
    assert headers["Referrer-Policy"] == "same-origin"
    assert headers["X-Frame-Options"] == "DENY"


def test_bad_room_url_is_a_404_page(server: ChatServer) -> None:
    """A room name that cannot exist gets a page saying why."""
    status, _, body = get(server.http_url + "/r/no.dots/")
    assert status == 404
    assert b"not a room name" in body


def test_healthz_and_readyz_report_ok(server: ChatServer) -> None:
    """Alive, and both stores answer."""
    status, _, body = get(server.http_url + "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "ok"})
    status, _, body = get(server.http_url + "/readyz")
    assert (status, json.loads(body)) == (200, {"status": "ok", "redis": "ok", "mongo": "ok"})


def test_readyz_is_503_when_mongodb_is_unreachable() -> None:
    """A load balancer takes a worker out while its database is gone; liveness stays 200."""
    require_services()
    dead = f"mongodb://127.0.0.1:{free_port()}/"
    with run_chat_server(workers=1, env={"MONGO_URL": dead}) as server:
        status, _, body = get(server.http_url + "/readyz")
        assert status == 503
        assert json.loads(body) == {"status": "unavailable", "redis": "ok", "mongo": "down"}
        assert get(server.http_url + "/healthz")[0] == 200
