"""The code base stays ruff-clean (the style rules live in pyproject.toml)."""

import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def test_python_sources_are_ruff_clean():
    ruff = Path(sys.executable).parent / "ruff"  # the pinned ruff of the test extra
    if not ruff.exists():
        pytest.skip("ruff is not installed beside this Python (pip install -e '.[test]')")
    result = subprocess.run([str(ruff), "check", "."], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout
