"""Which WebSocket origins are accepted."""

from __future__ import annotations

import pytest

from chat.origin import origin_allowed


@pytest.mark.parametrize(
    ("origin", "host", "trusted", "allowed"),
    [
        (None, "localhost:4810", [], True),  # not a browser: nothing to hijack
        ("http://localhost:4810", "localhost:4810", [], True),
        ("http://LOCALHOST:4810", "localhost:4810", [], True),
        ("https://chat.example.com", "chat.example.com", [], True),
        ("http://evil.example", "localhost:4810", [], False),
        ("http://localhost:9999", "localhost:4810", [], False),
        ("null", "localhost:4810", [], False),
        ("file://", "localhost:4810", [], False),
        ("https://app.example.com", "internal:4810", ["https://app.example.com"], True),
        ("https://app.example.com", "internal:4810", ["https://app.example.com/"], True),
        ("http://app.example.com", "internal:4810", ["https://app.example.com"], False),
    ],
)
def test_origin_must_match_host_or_be_trusted(
    origin: str | None, host: str, trusted: list[str], allowed: bool
) -> None:
    """Browsers send Origin; only the page's own host or a trusted origin may connect."""
    assert origin_allowed(origin, host, trusted) is allowed
