"""The worker process: ``python -m accelbench.runner.worker FD PARENT_PID``.

(``python -m accelbench._worker`` is the same program under its older name.)

Started and supervised by :class:`accelbench.runner.isolation.IsolatedExecutor`. It
talks to the parent over one end of a socket pair (file descriptor ``FD``),
with :class:`multiprocessing.connection.Connection` framing (pickled
messages):

* parent -> worker ``{"op": "init", "device", "imports", "settings", "run_id",
  "families", "sys_path", "max_memory_gib", "task"}`` (``imports``: backend packages
  to import before opening the device); worker -> parent ``{"op":
  "ready", "pid", "memory_limit"}`` or ``{"op": "fatal", "error"}``;
* parent -> worker ``{"op": "case", "case", "task"}``; worker -> parent ``{"op":
  "outcome", "row", "samples"}`` (the result of
  :func:`accelbench.measure.case.measure_case`, or with ``task = {"kind": "ops",
  ...}`` of :func:`accelbench.ops.execute.run_op`: one operator of the sweep);
* parent -> worker ``{"op": "ask", "question"}``; worker -> parent ``{"op": "answer",
  "value"}`` or ``{"op": "answer", "error", "usage"}`` (see :func:`_answer`);
* parent -> worker ``{"op": "exit"}`` (or the socket closes): the worker exits.

The worker is long-lived (importing PyTorch and opening the device costs
seconds) and dies with its parent: on Linux through ``PR_SET_PDEATHSIG``
(the kernel sends SIGKILL when the parent dies, even a SIGKILLed parent), on
every platform through a thread that polls ``os.getppid()``. faulthandler
writes a Python traceback to the worker log on SIGSEGV/SIGABRT, so a crash
keeps its location.
"""

from __future__ import annotations

import faulthandler
import gc
import os
import signal
import sys
from multiprocessing.connection import Connection
from typing import Any

from accelbench.errors import AccelbenchError
from accelbench.kinds import Status
from accelbench.measure.core import Outcome, Settings, failure_row
from accelbench.supervise import die_with_parent

__all__ = ["die_with_parent", "limit_memory", "main"]


def _vm_size() -> int:
    """Bytes of address space mapped now (Linux /proc; 0 elsewhere)."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def limit_memory(gib: float) -> int:
    """Cap the address space at what is mapped now plus ``gib`` GiB (``RLIMIT_AS``); returns it.

    The limit is relative to the worker's start-up footprint because PyTorch
    and the device runtime map gigabytes of address space (libraries, thread
    stacks) that are never resident: an absolute cap would forbid importing
    torch. Beyond the limit, ``malloc``/``mmap`` fail and PyTorch raises "can't
    allocate memory", which the case records as an ``error`` instead of the
    machine's OOM killer taking a process.
    """
    import resource

    limit = _vm_size() + int(gib * 2**30)
    _soft, hard = resource.getrlimit(resource.RLIMIT_AS)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_AS, (limit, hard))
    return limit


def _start(conn: Connection) -> tuple[Any, Any, str] | None:
    init: dict[str, Any] = conn.recv()
    for entry in init.get("sys_path", []):
        if entry not in sys.path:
            sys.path.append(entry)
    try:
        import torch

        import accelbench.measure.case  # noqa: F401  (imported before the first case's clock)
        from accelbench.devices import resolve_device
        from accelbench.devices.backends import import_backends
        from accelbench.workloads import FAMILIES
        from accelbench.workloads.user import load_specs

        import_backends(list(init.get("imports", [])))  # out-of-tree backend packages
        device = resolve_device(init["device"])
        specs = [(str(kind), str(text), str(base)) for kind, text, base in init["families"]]
        load_specs(specs, FAMILIES)
        settings = Settings.from_dict(init["settings"])
        if (init.get("task") or {}).get("kind") == "ops":
            from accelbench.ops.opinfo import preload

            preload()  # op_db takes seconds to import: before "ready", outside any op's timeout
        limit = None
        if init.get("max_memory_gib"):
            ones = torch.ones((64, 64))
            (ones @ ones).sum()  # start the intra-op thread pool before measuring the footprint
            limit = limit_memory(float(init["max_memory_gib"]))
    except Exception as exc:
        conn.send({"op": "fatal", "error": f"{type(exc).__name__}: {exc}".splitlines()[0]})
        return None
    # What start-up made (torch's modules, the catalog, op_db) lives as long as the worker:
    # out of the collector's reach, the collection after each case scans only that case's
    # objects (a full one over torch's takes ~60 ms on a 2-core machine: a second per
    # round of the quick suite).
    gc.freeze()
    conn.send({"op": "ready", "pid": os.getpid(), "memory_limit": limit})
    return device, settings, str(init["run_id"])


def _run(case: Any, task: dict[str, Any] | None, device: Any, settings: Settings,
         run_id: str) -> Outcome:
    """One case: measured, or run as the task says (an operator of the sweep)."""
    if task is None:
        from accelbench.measure.case import measure_case

        return measure_case(case, device, settings, run_id)
    if task.get("kind") != "ops":
        raise ValueError(f"unknown task {task.get('kind')!r}")
    from accelbench.ops.execute import OpOptions, run_op

    return run_op(case, device, OpOptions.from_dict(task), run_id)


def _answer(question: dict[str, Any]) -> dict[str, Any]:
    """A question the parent asks before its cases: ``{"kind": "ops_list", "set", "globs"}``
    (the operators of the sweep, so that the parent never imports op_db)."""
    try:
        if question.get("kind") != "ops_list":
            raise ValueError(f"unknown question {question.get('kind')!r}")
        from accelbench.ops.opinfo import select
        from accelbench.ops.sets import ALL, load_set

        name = question["set"]
        value = select(None if name == ALL else load_set(name), question.get("globs"))
        return {"op": "answer", "value": value}
    except Exception as exc:
        return {"op": "answer", "error": f"{exc}", "usage": isinstance(exc, AccelbenchError)}


def serve(conn: Connection) -> int:
    """Answer case requests until told to exit; returns the exit status."""
    started = _start(conn)
    if started is None:
        return 3
    device, settings, run_id = started

    while True:
        try:
            msg: dict[str, Any] = conn.recv()
        except (EOFError, OSError):
            return 0
        if msg.get("op") == "ask":
            conn.send(_answer(msg["question"]))
            continue
        if msg.get("op") != "case":
            return 0
        case = msg["case"]
        try:
            outcome = _run(case, msg.get("task"), device, settings, run_id)
        except Exception as exc:  # measure_case should not raise; keep the worker alive if it does
            outcome = failure_row(case, device, run_id, Status.ERROR,
                                  f"{type(exc).__name__}: {exc}".splitlines()[0])
        conn.send({"op": "outcome", "row": outcome.row, "samples": outcome.samples})


def main(argv: list[str]) -> int:
    fd, parent = int(argv[0]), int(argv[1])
    die_with_parent(parent)
    faulthandler.enable(all_threads=False)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent handles Ctrl-C and stops us
    conn = Connection(fd)
    try:
        return serve(conn)
    finally:
        conn.close()


if __name__ == "__main__":
    code = main(sys.argv[1:])
    # Every answer is sent; skip the interpreter's and PyTorch's teardown (seconds on a busy
    # machine), which the parent would otherwise wait for before the next round's worker.
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)
