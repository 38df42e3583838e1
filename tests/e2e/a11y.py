"""axe-core (npm, installed by `make test-deps`) injected into a page by Playwright."""

from __future__ import annotations

from typing import Any

from playwright.sync_api import Page

from tests.chatserver import ROOT

AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = {"serious", "critical"}


def axe_violations(page: Page) -> list[dict[str, Any]]:
    """axe's WCAG 2.x A/AA (and best-practice) violations on the page as it is now."""
    assert AXE.exists(), f"{AXE.relative_to(ROOT)} is missing: run `make test-deps`"
    page.add_script_tag(path=str(AXE))
    result = page.evaluate(
        """async () => axe.run(document, {
            runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21aa", "best-practice"] },
        })"""
    )
    return result["violations"]


def serious(violations: list[dict[str, Any]]) -> list[str]:
    """One readable line per serious or critical violation: rule, impact, first places."""
    return [
        f"{v['id']} ({v['impact']}): {v['help']} at "
        + ", ".join(" ".join(node["target"]) for node in v["nodes"][:3])
        for v in violations
        if v["impact"] in BLOCKING
    ]
