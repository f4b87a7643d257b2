"""Shared fixtures: tiny catalogs and a helper that runs the real CLI in a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

TINY_MATMUL = """
family = "matmul"
[[case]]
name = "tiny"
size = [32, 64]
dtypes = ["fp32", "fp64"]
"""

#: Fast measurement flags for end-to-end runs (a case takes well under a second).
FAST = ["--warmup", "0.02", "--max-case-time", "0.2", "--min-samples", "5"]


@pytest.fixture
def tiny_suite(tmp_path: Path) -> Path:
    path = tmp_path / "tiny.toml"
    path.write_text(TINY_MATMUL)
    return path


Cli = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def cli(tmp_path: Path) -> Cli:
    """Run ``python -m accelbench ARGS`` in tmp_path; returns the completed process."""

    def run(
        *args: str, timeout: float = 300, cwd: Path | None = None
    ) -> subprocess.CompletedProcess[str]:
        env = dict(os.environ, COLUMNS="200")
        return subprocess.run(
            [sys.executable, "-m", "accelbench", *args],
            capture_output=True, text=True, timeout=timeout, cwd=cwd or tmp_path, env=env,
            check=False,
        )

    return run
