"""tests/cases/timeline.json against tests/timeline.py, the Python clients' copy of the page's
delivery rules; tests/js/timeline_cases.test.mjs runs the same cases against timeline.js."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.chatserver import ROOT
from tests.timeline import Timeline

DOC = json.loads((ROOT / "tests" / "cases" / "timeline.json").read_text())


def seqs_of(step: dict[str, Any]) -> list[int]:
    if "range" not in step:
        return list(step["seqs"])
    lo, hi = step["range"]
    return list(range(lo, hi + 1))


def expected(value: Any) -> Any:
    return seqs_of(value) if isinstance(value, dict) and "range" in value else value


def page(step: dict[str, Any]) -> dict[str, Any]:
    messages = [
        {"type": "message", "seq": s, "id": f"id{s}", "text": f"m{s}"} for s in seqs_of(step)
    ]
    fields = {"has_more": False, "before_seq": None, "after_seq": None, **step.get("fields", {})}
    return {"type": "history", "messages": messages, **fields}


def observed(timeline: Timeline, key: str) -> Any:
    return {
        "shown": lambda: [seq for seq in timeline.known if timeline.has(seq)],
        "holes": timeline.hole_list,
        "final_holes": timeline.final_holes,
        "gaps": lambda: [list(gap) for gap in timeline.gaps()],
        "highest": lambda: timeline.highest,
        "resume_after": timeline.resume_after,
        "detached": lambda: timeline.detached,
        "missed_live": lambda: timeline.missed_live,
        "lowest_shown": lambda: next((s for s in timeline.known if timeline.has(s)), None),
    }[key]()


def run(timeline: Timeline, step: dict[str, Any], at: float) -> None:
    op, want = step["op"], step.get("expect")
    if op == "join":
        timeline.connected(False)
        timeline.receive_history(page(step), at)
    elif op == "connected":
        timeline.connected(step["resumed"])
    elif op == "disconnected":
        timeline.disconnected()
    elif op == "failed":
        timeline.request_failed(at)
    elif op == "live":
        result = timeline.receive_live(step["seq"], at)
        assert {key: result.get(key) for key in want or {}} == (want or {})
    elif op == "history":
        result = timeline.receive_history(page(step), at)
        want = want or {}
        got = {
            "kind": result.kind,
            "answered": result.answered,
            "cleared": result.cleared,
            "fresh": [[f["message"]["seq"], f["before"]] for f in result.fresh],
            "fresh_seqs": [f["message"]["seq"] for f in result.fresh],
        }
        assert {key: got[key] for key in want} == {key: expected(v) for key, v in want.items()}
    elif op == "next":
        request = timeline.next_request(at)
        assert request == (None if want is None else {"type": "history", **want})
    elif op == "wake":
        assert timeline.wake_in(at) == want
    elif op == "state":
        assert {key: observed(timeline, key) for key in want} == {
            key: expected(value) for key, value in want.items()
        }
    else:
        raise AssertionError(f"unknown op {op}")


@pytest.mark.parametrize("case", DOC["cases"], ids=[case["name"] for case in DOC["cases"]])
def test_the_python_timeline_passes_the_pages_cases(case: dict[str, Any]) -> None:
    timeline = Timeline()
    for index, step in enumerate(case["steps"]):
        try:
            run(timeline, step, DOC["t0"] + step.get("at", 0))
        except AssertionError as exc:
            raise AssertionError(f"step {index} {step}: {exc}") from None


def test_the_cases_cover_every_rule() -> None:
    """Each operation and observation the rules have appears in some case."""
    steps = [step for case in DOC["cases"] for step in case["steps"]]
    assert {step["op"] for step in steps} == {
        "join",
        "connected",
        "disconnected",
        "failed",
        "live",
        "history",
        "next",
        "wake",
        "state",
    }
    observed_keys = {key for step in steps if step["op"] == "state" for key in step["expect"]}
    assert len(observed_keys) == 9
