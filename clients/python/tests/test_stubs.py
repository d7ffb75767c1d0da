"""The committed stubs are what scripts/generate.py makes from proto/ now."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def _generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate", PACKAGE / "scripts" / "generate.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["generate"] = module
    spec.loader.exec_module(module)
    return module


def test_committed_stubs_match_the_proto(tmp_path: Path) -> None:
    generate = _generator()
    fresh = tmp_path / "_proto"
    generate.generate(fresh)
    committed = generate.DEFAULT_OUT
    fresh_files = sorted(p.relative_to(fresh) for p in fresh.rglob("*") if p.is_file())
    committed_files = sorted(
        p.relative_to(committed) for p in committed.rglob("*") if p.is_file() and "__pycache__" not in p.parts
    )
    assert fresh_files == committed_files, "stub files differ: run python clients/python/scripts/generate.py"
    stale = [str(p) for p in fresh_files if (fresh / p).read_text() != (committed / p).read_text()]
    assert not stale, (
        f"stubs out of date with proto/ ({stale}): run python clients/python/scripts/generate.py"
    )
