"""Supervising child processes: how they ended, dying with the parent, killing a group.

Shared by the case worker (:mod:`accelbench.runner.isolation`) and the
ranks of a local world (:mod:`accelbench.distributed.world`). No torch.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import signal
import subprocess
import sys
import sysconfig
import threading
import time
from pathlib import Path

__all__ = ["crash_site", "die_with_parent", "exit_text", "kill_group", "log_tail"]

_PR_SET_PDEATHSIG = 1


def exit_text(returncode: int) -> str:
    """``-11`` -> ``killed by SIGSEGV``; ``3`` -> ``exited with status 3``."""
    if returncode < 0:
        try:
            name = signal.Signals(-returncode).name
        except ValueError:
            name = f"signal {-returncode}"
        return f"killed by {name}"
    return f"exited with status {returncode}"


def die_with_parent(parent_pid: int, watch: bool = True) -> None:
    """Make this process (and its process group) die when ``parent_pid`` is gone.

    Linux: ``PR_SET_PDEATHSIG`` (the kernel sends SIGKILL when the parent
    dies, even a SIGKILLed parent). Every platform, with ``watch``: a thread
    that polls ``os.getppid()`` and kills the process group. Families that
    start their own processes from a worker can call this in them.
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGKILL), 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover - no prctl
            pass
    if os.getppid() != parent_pid:  # the parent died before prctl took effect
        os._exit(1)
    if not watch:
        return

    def poll() -> None:
        while True:
            time.sleep(0.5)
            if os.getppid() != parent_pid:
                try:
                    os.killpg(os.getpgrp(), signal.SIGKILL)
                finally:
                    os._exit(1)

    threading.Thread(target=poll, name="accelbench-parent-watch", daemon=True).start()


def kill_group(proc: subprocess.Popen[bytes], wait_s: float | None = None) -> None:
    """SIGKILL ``proc``'s process group (it and what it started) and reap it."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(wait_s)


_FRAME = re.compile(r'File "(?P<file>[^"]+)", line (?P<line>\d+) in (?P<func>\S+)')


def crash_site(log_tail: str) -> str | None:
    """The innermost non-stdlib Python frame of a faulthandler dump (``file.py:40 in run``).

    faulthandler prints the crashing thread's stack, most recent call first;
    frames inside the standard library (``ctypes.string_at``) say less about
    the culprit than the caller, so they are skipped.
    """
    idx = max(log_tail.rfind("most recent call first"), log_tail.rfind("Current thread"))
    if idx < 0:
        return None
    stdlib = sysconfig.get_paths()["stdlib"]
    for match in _FRAME.finditer(log_tail, idx):
        if not match["file"].startswith(stdlib) and not match["file"].startswith("<"):
            return f"{Path(match['file']).name}:{match['line']} in {match['func']}"
    return None


def log_tail(path: Path, lines: int = 1) -> str:
    """The last useful lines of a child's log (warnings skipped), joined, at most 300 chars."""
    try:
        text = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    useful = [t.strip() for t in text if t.strip() and "Warning" not in t]
    return " | ".join(useful[-lines:])[:300]
