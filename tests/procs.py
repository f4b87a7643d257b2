"""Helpers for tests that run the real CLI as a process and look for leftover processes."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

TESTS_DIR = Path(__file__).resolve().parent
MARKER_VAR = "ACCELBENCH_TEST_MARKER"


def new_marker() -> str:
    return uuid.uuid4().hex


def env_with(marker: str, *extra_path: Path) -> dict[str, str]:
    """The environment for a CLI child: a marker every descendant inherits, extra sys.path."""
    env = dict(os.environ, COLUMNS="200", **{MARKER_VAR: marker})
    paths = [str(p) for p in extra_path] + [env.get("PYTHONPATH", "")]
    env["PYTHONPATH"] = os.pathsep.join(p for p in paths if p)
    return env


def marked_processes(marker: str) -> list[int]:
    """Live (non-zombie) processes whose environment carries ``marker``."""
    needle = f"{MARKER_VAR}={marker}".encode()
    found: list[int] = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if state != "Z":
            found.append(int(entry.name))
    return found


def wait_no_marked(marker: str, timeout: float = 10.0) -> list[int]:
    """Wait until no marked process is left; returns those still alive after ``timeout``."""
    deadline = time.monotonic() + timeout
    alive = marked_processes(marker)
    while alive and time.monotonic() < deadline:
        time.sleep(0.1)
        alive = marked_processes(marker)
    return alive


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def start_cli(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """Start the CLI as a user's terminal would: with Ctrl-C (SIGINT) at its default.

    A test run started in the background of a non-interactive shell inherits
    SIGINT *ignored* (POSIX), and Python then installs no KeyboardInterrupt
    handler in its children; the tests that press Ctrl-C need the default.
    """
    return subprocess.Popen(
        [sys.executable, "-m", "accelbench", *args], cwd=cwd, env=env, text=True,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, preexec_fn=_default_sigint,
    )


def run_cli(args: list[str], cwd: Path, env: dict[str, str],
            timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelbench", *args], cwd=cwd, env=env,
                          text=True, capture_output=True, timeout=timeout, check=False)


def events(run: Path) -> list[dict[str, Any]]:
    path = run / "events.jsonl"
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        try:
            out.append(json.loads(line))
        except json.JSONDecodeError:
            continue
    return out


def wait_for(run_parent: Path, predicate: Any, proc: subprocess.Popen[str],
             timeout: float = 120) -> Path:
    """Poll the (single) run directory under ``run_parent`` until predicate(events) holds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        runs = [p for p in run_parent.glob("*") if p.is_dir()] if run_parent.exists() else []
        if runs and predicate(events(runs[0])):
            return runs[0]
        if proc.poll() is not None:
            raise AssertionError(f"run ended early: {proc.returncode} {proc.stderr.read()}")
        time.sleep(0.05)
    raise AssertionError("timed out waiting for the run to make progress")


def only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]
