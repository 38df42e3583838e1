"""Fixtures for end-to-end tests (real runchat processes, WebSocket clients, Chromium)."""

from __future__ import annotations

from tests.e2e.browser import chromium

__all__ = ["chromium"]
