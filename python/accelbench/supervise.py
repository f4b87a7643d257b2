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
from typing import IO

__all__ = [
    "crash_site",
    "die_with_parent",
    "exit_text",
    "kill_group",
    "kill_tagged",
    "log_tail",
    "useful_tail",
]

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


def kill_tagged(name: str, value: str) -> int:
    """SIGKILL every process whose environment has ``NAME=value``; returns how many (Linux).

    A process group does not hold a child that started its own session
    (``setsid``, ``start_new_session=True``): killing the worker's group
    misses it, and it would outlive the case. Such a child still inherits the
    worker's environment, which carries a tag unique to that worker, so the
    tag finds it. Elsewhere (no ``/proc``) this finds nothing: such children
    are the family's to end.
    """
    needle = f"{name}={value}".encode()
    killed = 0
    proc = Path("/proc")
    if not proc.is_dir():
        return 0
    for entry in proc.iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            if needle not in (entry / "environ").read_bytes().split(b"\0"):
                continue
            os.kill(int(entry.name), signal.SIGKILL)
            killed += 1
        except (OSError, ValueError):  # gone, or another user's process
            continue
    return killed


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


def useful_tail(text: str, lines: int = 1) -> str:
    """The last useful lines of a child's output (warnings skipped), joined, at most 300 chars."""
    useful = [t.strip() for t in text.strip().splitlines() if t.strip() and "Warning" not in t]
    return " | ".join(useful[-lines:])[:300]


def log_tail(log: Path | IO[bytes], lines: int = 1) -> str:
    """:func:`useful_tail` of a log file, given by path or as an open (maybe unlinked) file."""
    try:
        if isinstance(log, Path):
            text = log.read_text(errors="replace")
        else:
            log.flush()
            size = os.fstat(log.fileno()).st_size
            start = max(0, size - (1 << 16))
            text = os.pread(log.fileno(), size - start, start).decode("utf-8", "replace")
    except (OSError, ValueError):  # ValueError: the file was closed
        return ""
    return useful_tail(text, lines)
