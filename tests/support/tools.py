"""Scripts under tools/ (not a package) loaded as modules, to share their helpers."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def load_tool(name: str) -> ModuleType:
    """tools/<name>.py as a module (loaded once)."""
    spec = importlib.util.spec_from_file_location(f"chatsite_{name}", ROOT / "tools" / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module
