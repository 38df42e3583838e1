"""The page's pure modules (static/chat/timeline.js, format.js) and its module graph, under Node."""

from __future__ import annotations

import re
import shutil
import subprocess

import pytest

from tests.chatserver import ROOT

JS_TESTS = ROOT / "tests" / "js"
TIMEOUT_S = 60


def test_timeline_js_unit_tests_pass() -> None:
    """`node --test tests/js/` exits 0, reports passes, and reports no failures."""
    node = shutil.which("node")
    if node is None:
        pytest.fail("Node.js (`node`, v18+) is needed to run tests/js/; install it and retry")
    result = subprocess.run(
        [node, "--test", str(JS_TESTS)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=TIMEOUT_S,
        check=False,
    )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    passed = re.search(r"^# pass (\d+)$", output, re.MULTILINE)
    failed = re.search(r"^# fail (\d+)$", output, re.MULTILINE)
    assert passed and int(passed.group(1)) > 0, output
    assert failed and int(failed.group(1)) == 0, output
