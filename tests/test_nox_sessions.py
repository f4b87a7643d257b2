"""The nox device sessions fail fast, with the reason, when their device is absent."""

from __future__ import annotations

import importlib.util
import platform
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.skipif(importlib.util.find_spec("nox") is None, reason="nox not installed")
@pytest.mark.skipif(platform.system() == "Darwin" and platform.machine() == "arm64",
                    reason="this machine has an MPS device")
@pytest.mark.parametrize("task", ["bench", "validate"])
def test_device_session_without_device_fails_fast_with_reason(tmp_path: Path, task: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "-s", f"{task}-mps",
         "--envdir", str(tmp_path / "envs")],
        capture_output=True, text=True, timeout=120, check=False, cwd=REPO,
    )
    assert proc.returncode != 0
    assert f"{task}-mps: not an Apple silicon Mac" in proc.stdout + proc.stderr
    assert not (REPO / "runs" / "bench-mps").exists()
    assert not (REPO / "runs" / "validate-mps.log").exists()


@pytest.mark.skipif(importlib.util.find_spec("nox") is None, reason="nox not installed")
def test_device_sessions_are_listed_and_not_default() -> None:
    proc = subprocess.run([sys.executable, "-m", "nox", "-f", str(REPO / "noxfile.py"), "--list"],
                          capture_output=True, text=True, timeout=60, check=True, cwd=REPO)
    for backend in ("cpu", "cuda", "rocm", "xpu", "mps", "npu"):
        assert f"- bench-{backend} ->" in proc.stdout  # "-": not run by a bare `nox`
        assert f"- validate-{backend} ->" in proc.stdout
    assert "- publish ->" in proc.stdout
