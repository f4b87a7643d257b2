"""Running cases out of harm's way: one supervised worker process per device.

A benchmark pointed at immature hardware and drivers meets segfaults,
aborts, hangs and runaway allocations; each must become *the result of one
case*, never the end of the run. :class:`IsolatedExecutor` therefore runs
:func:`accelbench.measure.case.measure_case` in a long-lived worker process
(``python -m accelbench.runner.worker``, see :mod:`accelbench.runner.worker`) and waits
for each answer with a timeout:

* the worker answers: its row is the case's result (``ok``, ``error`` incl.
  an allocation refused under ``--max-memory``, ``unsupported``...);
* the worker dies mid-case: status ``crash``, ``error`` says how
  ("worker killed by SIGSEGV", "worker exited with status 3") and where,
  when faulthandler logged a Python frame;
* no answer within the case timeout: status ``timeout``; the worker's whole
  process group (the worker and anything the family started) is killed.

After a death the next case starts a fresh worker. The worker runs in its own
session, so Ctrl-C in the terminal reaches only the parent, which stops the
worker and writes a valid partial run. Worker stdout/stderr (and faulthandler
tracebacks) go to ``worker.log`` in the run directory.

:class:`InProcessExecutor` (``--no-isolation``) calls ``measure_case``
directly, for debugging: a crash then ends the run, which ``--resume``
finishes later.
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import IO, Any, Protocol

from accelbench.devices import Device
from accelbench.devices.backends import imported_backends
from accelbench.errors import AccelbenchError, UsageError
from accelbench.kinds import Status
from accelbench.measure.case import measure_case
from accelbench.measure.core import Outcome, Settings, failure_row
from accelbench.supervise import crash_site, exit_text, kill_group, kill_tagged, useful_tail
from accelbench.workloads.base import Case
from accelbench.workloads.user import FamilySpec, loaded_specs

__all__ = [
    "STARTUP_TIMEOUT",
    "WORKER_ENV",
    "WORKER_TAG_ENV",
    "Executor",
    "InProcessExecutor",
    "IsolatedExecutor",
    "WorkerError",
    "crash_site",
    "describe_exit",
]

#: Environment variable set in every worker (value: the parent's pid).
WORKER_ENV = "ACCELBENCH_WORKER_OF"
#: Environment variable unique to each worker, inherited by everything it starts.
WORKER_TAG_ENV = "ACCELBENCH_WORKER_TAG"
#: Seconds a worker may take to import PyTorch, open the device and say it is ready.
STARTUP_TIMEOUT = 180.0
#: Seconds a worker gets to exit after being asked to, before it is killed.
EXIT_GRACE = 5.0


class WorkerError(AccelbenchError):
    """A worker process could not be started (the run cannot continue)."""


class Executor(Protocol):
    """Runs one case and returns its outcome; never raises for the case's faults."""

    def run(self, case: Case) -> Outcome: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """``--no-isolation``: measure in this process (a crash ends the run)."""

    def __init__(self, device: Device, settings: Settings, run_id: str) -> None:
        self.device = device
        self.settings = settings
        self.run_id = run_id

    def run(self, case: Case) -> Outcome:
        return measure_case(case, self.device, self.settings, self.run_id)

    def close(self) -> None:
        return None


def describe_exit(returncode: int) -> str:
    """``-11`` -> ``worker killed by SIGSEGV``; ``3`` -> ``worker exited with status 3``."""
    return f"worker {exit_text(returncode)}"


@dataclass
class _Worker:
    proc: subprocess.Popen[bytes]
    conn: Connection
    memory_limit: int | None = None
    #: the value of WORKER_TAG_ENV in its environment (and its descendants')
    tag: str = ""


@dataclass
class IsolatedExecutor:
    """Runs cases in a supervised worker process (see the module docstring)."""

    device: Device
    settings: Settings
    run_id: str
    timeout: float
    log_path: Path | None = None
    max_memory_gib: float | None = None
    families: list[FamilySpec] = field(default_factory=loaded_specs)
    #: what the worker does with each case: None measures it (:func:`measure_case`);
    #: ``{"kind": "ops", ...}`` runs an operator of the sweep (:mod:`accelbench.runner.worker`)
    task: dict[str, Any] | None = None
    _worker: _Worker | None = None
    _starting: tuple[_Worker, int] | None = None  # begun (begin()), not yet ready
    _log: IO[bytes] | None = None
    started: int = 0  # workers started so far (1 + replacements)

    # -- worker lifecycle -------------------------------------------------
    def _open_log(self) -> IO[bytes] | int:
        if self.log_path is None:
            return subprocess.DEVNULL
        if self._log is None:
            self._log = self.log_path.open("ab")
        return self._log

    def _log_offset(self) -> int:
        try:
            return self.log_path.stat().st_size if self.log_path is not None else 0
        except OSError:
            return 0

    def _log_since(self, offset: int) -> str:
        if self.log_path is None or not self.log_path.exists():
            return ""
        with self.log_path.open("rb") as fh:
            fh.seek(offset)
            return fh.read(64 * 1024).decode("utf-8", "replace")

    def _spawn(self) -> _Worker:
        import accelbench

        here, there = socket.socketpair()
        package_root = str(Path(accelbench.__file__).resolve().parent.parent)
        path = os.environ.get("PYTHONPATH", "")
        tag = uuid.uuid4().hex
        env = dict(os.environ, **{WORKER_ENV: str(os.getpid()), WORKER_TAG_ENV: tag})
        env["PYTHONPATH"] = package_root + (os.pathsep + path if path else "")
        log = self._open_log()
        try:
            proc = subprocess.Popen(
                [sys.executable, "-m", "accelbench.runner.worker", str(there.fileno()),
                 str(os.getpid())],
                pass_fds=(there.fileno(),), stdin=subprocess.DEVNULL, stdout=log, stderr=log,
                env=env, start_new_session=True,
            )
        finally:
            there.close()
        conn = Connection(here.detach())
        self.started += 1
        return _Worker(proc, conn, tag=tag)

    def begin(self) -> None:
        """Start a worker now, without waiting for it: it imports PyTorch while the caller
        does other work; the first case waits until it is ready."""
        if self._worker is None and self._starting is None:
            self._starting = self._launch()

    def _launch(self) -> tuple[_Worker, int]:
        """Spawn a worker and send it the init message; returns it and the log offset."""
        offset = self._log_offset()
        worker = self._spawn()
        try:
            worker.conn.send({
                "op": "init",
                "device": self.device.spec,
                "imports": list(imported_backends()),
                "settings": self.settings.as_dict(),
                "run_id": self.run_id,
                "families": self.families,
                "sys_path": [p for p in sys.path if p],
                "max_memory_gib": self.max_memory_gib,
                "task": self.task,
            })
        except (EOFError, OSError):
            pass  # a worker that died at once: _start finds no answer and says how it ended
        except BaseException:  # Ctrl-C during start-up: leave no worker behind
            self._kill(worker)
            raise
        return worker, offset

    def _start(self) -> _Worker:
        worker, offset = self._starting or self._launch()
        self._starting = None
        msg: dict[str, Any] | None = None
        try:
            if worker.conn.poll(STARTUP_TIMEOUT):
                msg = worker.conn.recv()
        except (EOFError, OSError):
            msg = None
        except BaseException:  # Ctrl-C during start-up: leave no worker behind
            self._kill(worker)
            raise
        if msg is None or msg.get("op") != "ready":
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(EXIT_GRACE)
            rc = worker.proc.returncode
            self._kill(worker)
            why = msg["error"] if msg and msg.get("op") == "fatal" else (
                describe_exit(rc) if rc is not None else f"no answer in {STARTUP_TIMEOUT:g} s")
            tail = self._log_since(offset).strip().splitlines()
            hint = f" (log: {tail[-1][:200]})" if tail and msg is None else ""
            raise WorkerError(f"worker process failed to start on {self.device.spec}: {why}{hint}")
        worker.memory_limit = msg.get("memory_limit")
        self._worker = worker
        return worker

    @staticmethod
    def _kill(worker: _Worker) -> None:
        """SIGKILL the worker's process group (the worker and what it started) and reap it.

        Children that left the group (a new session) are found by the worker's tag.
        """
        kill_group(worker.proc)
        kill_tagged(WORKER_TAG_ENV, worker.tag)
        worker.conn.close()

    def close(self) -> None:
        """Ask the worker to exit, kill it if it does not, and close the log."""
        if self._starting is not None:
            self._kill(self._starting[0])
            self._starting = None
        worker, self._worker = self._worker, None
        if worker is not None:
            try:
                worker.conn.send({"op": "exit"})
                worker.proc.wait(EXIT_GRACE)
            except (OSError, subprocess.TimeoutExpired):
                pass
            self._kill(worker)
        if self._log is not None:
            self._log.close()
            self._log = None

    def ask(self, question: dict[str, Any], timeout: float) -> Any:
        """The worker's answer to a question (see :mod:`accelbench.runner.worker`).

        A worker that dies or stays silent raises :class:`WorkerError`; a
        question the worker finds malformed raises :class:`UsageError`.
        """
        worker = self._worker if self._worker is not None and self._worker.proc.poll() is None \
            else self._start()
        msg: dict[str, Any] | None = None
        try:
            worker.conn.send({"op": "ask", "question": question})
            if worker.conn.poll(timeout):
                msg = worker.conn.recv()
        except (EOFError, OSError):
            msg = None
        if msg is None:
            self._worker = None
            self._kill(worker)
            raise WorkerError(f"worker gave no answer to {question.get('kind')!r}")
        if "error" in msg:
            raise (UsageError if msg.get("usage") else WorkerError)(msg["error"])
        return msg["value"]

    # -- one case ----------------------------------------------------------
    def run(self, case: Case) -> Outcome:
        worker = self._worker
        if worker is None or worker.proc.poll() is not None:
            if worker is not None:
                self._kill(worker)
            worker = self._start()
        offset = self._log_offset()
        started = time.perf_counter()
        msg: dict[str, Any] | None = None
        answered = False
        try:
            worker.conn.send({"op": "case", "case": case, "task": self.task})
            answered = worker.conn.poll(self.timeout)
            if answered:
                msg = worker.conn.recv()
        except (EOFError, OSError):
            msg = None
        except BaseException:  # Ctrl-C while waiting: leave no worker behind
            self._worker = None
            self._kill(worker)
            raise
        if msg is not None and msg.get("op") == "outcome":
            return Outcome(msg["row"], msg["samples"])
        # the worker died or hung: kill what is left, record the case, start afresh next time
        self._worker = None
        if not answered:
            self._kill(worker)
            status, error = Status.TIMEOUT, f"no result after {self.timeout:g} s; worker killed"
        else:
            with contextlib.suppress(subprocess.TimeoutExpired):
                worker.proc.wait(EXIT_GRACE)
            self._kill(worker)
            status, error = Status.CRASH, describe_exit(worker.proc.returncode)
            if worker.proc.returncode == -signal.SIGKILL:
                error += " (not by accelbench: out of memory?)"
            log = self._log_since(offset)
            site = crash_site(log)
            # the cause is in the worker's last words when no Python frame was dumped
            # (a thread pool refused under --max-memory, a library calling exit(1))
            last = useful_tail(log)
            error += f" at {site}" if site else (f": {last}" if last else "")
            if self.max_memory_gib is not None and not site:
                error += f" (under --max-memory {self.max_memory_gib:g} GiB: too tight?)"
        return failure_row(case, self.device, self.run_id, status, error,
                           wall_s=time.perf_counter() - started)


def make_executor(
    device: Device, settings: Settings, run_id: str, log_path: Path | None
) -> Executor:
    """The executor the settings ask for (isolated unless ``settings.isolation`` is False)."""
    if not settings.isolation:
        return InProcessExecutor(device, settings, run_id)
    return IsolatedExecutor(
        device, settings, run_id, timeout=settings.effective_case_timeout(),
        log_path=log_path, max_memory_gib=settings.max_memory_gib,
    )
