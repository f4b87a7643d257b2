"""``accelbench ops``: which PyTorch operators the device runs, and whether it agrees.

Imports torch (the measuring side). The sweep itself is
:mod:`accelbench.runner.opsweep`; the figures :mod:`accelbench.analysis.ops`.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import time
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console

from accelbench.analysis import load
from accelbench.analysis.ops import judge, summarize
from accelbench.cli.progress import RunProgress, stop_on_sigterm
from accelbench.devices import Device, resolve_device
from accelbench.devices.backends import import_backends, imported_backends
from accelbench.devices.environment import environment
from accelbench.errors import UsageError
from accelbench.kinds import FAILED
from accelbench.ops import COMPILE_OP_TIMEOUT, OP_TIMEOUT
from accelbench.ops.execute import OpOptions
from accelbench.ops.opinfo import OpEntry
from accelbench.ops.sets import ALL, load_set
from accelbench.report.ops import defect_lines, summary_lines
from accelbench.report.tables import console
from accelbench.results import SCHEMA_VERSION, RunDir, atomic
from accelbench.results.rundir import shareable_command
from accelbench.runner.isolation import STARTUP_TIMEOUT
from accelbench.runner.opsweep import (
    DEFAULT_DTYPES,
    OpsExecutor,
    op_cases,
    ops_executor,
    sweep,
    write_defects,
)
from accelbench.workloads.base import canonical_dtype

__all__ = ["OPERATORS_FILE", "cmd_ops"]

#: The operators a sweep selected, so that ``--resume`` need not import op_db again.
OPERATORS_FILE = "operators.json"

@dataclass
class _Plan:
    run: RunDir
    meta: dict[str, Any]
    device: Device
    options: OpOptions
    baseline: Path | None


def _dtypes(values: list[str] | None) -> list[str]:
    try:
        return [canonical_dtype(v) for v in values] if values else list(DEFAULT_DTYPES)
    except ValueError as exc:
        raise UsageError(f"--dtypes: {exc}") from None


def _new(args: argparse.Namespace) -> _Plan:
    import_backends(args.imports)
    device = resolve_device(args.device)
    if args.baseline is not None:
        load(args.baseline)  # a one-line error now, not after the sweep
    if args.op_set != ALL:
        load_set(args.op_set)
    config = {"device": device.spec, "imports": list(imported_backends()), "set": args.op_set,
              "ops": args.ops, "dtypes": _dtypes(args.dtypes),
              "baseline": str(args.baseline) if args.baseline else None,
              "op_timeout": args.op_timeout or (COMPILE_OP_TIMEOUT if args.compile
                                                else OP_TIMEOUT)}
    options = OpOptions(compile=args.compile, compile_samples=args.compile_samples,
                        time=args.time)
    try:
        run = RunDir.create(args.out, device.slug)
    except OSError as exc:
        raise UsageError(f"--out {args.out}: cannot create a run directory: "
                         f"{exc.strerror or exc}") from None
    meta = {"schema_version": SCHEMA_VERSION, "run_id": run.run_id, "kind": "ops",
            "created": datetime.now(timezone.utc).isoformat(),
            "command": shareable_command(["accelbench", *sys.argv[1:]]), "config": config,
            "settings": asdict(options), "torch_threads": torch.get_num_threads(),
            "environment": environment(device)}
    run.write_meta(meta)
    return _Plan(run, meta, device, options, args.baseline)


def _resumed(args: argparse.Namespace) -> _Plan:
    run = RunDir.open(args.resume)
    meta = run.read_meta()
    config = meta.get("config") or {}
    if meta.get("kind") != "ops":
        raise UsageError(f"{args.resume}: not an ops run (resume it with accelbench run)")
    import_backends(list(config.get("imports") or []))
    device = resolve_device(config["device"])
    baseline = Path(config["baseline"]) if config.get("baseline") else None
    return _Plan(run, meta, device, OpOptions.from_dict(meta["settings"]), baseline)


def _operators(plan: _Plan, executor: OpsExecutor) -> list[OpEntry]:
    """The selected operators: from the worker's op_db (a new sweep; this process never
    imports it), or as the sweep first chose them (resume)."""
    path = plan.run.path / OPERATORS_FILE
    if path.is_file():
        return [OpEntry(e["key"], tuple(e["cpu_dtypes"]), tuple(e["cuda_dtypes"]))
                for e in json.loads(path.read_text())]
    config = plan.meta["config"]
    question = {"kind": "ops_list", "set": config["set"], "globs": config["ops"]}
    entries: list[OpEntry] = executor.inner.ask(question, timeout=STARTUP_TIMEOUT)
    atomic.write_bytes(path, json.dumps([asdict(e) for e in entries]).encode())
    return entries


def cmd_ops(args: argparse.Namespace) -> int:
    plan = _resumed(args) if args.resume is not None else _new(args)
    err = console(stderr=True)
    started = time.perf_counter()
    executor = ops_executor(plan.run, plan.device, plan.options,
                            float(plan.meta["config"]["op_timeout"]))
    interrupted = False
    with stop_on_sigterm(), RunProgress(err, args.quiet) as progress:
        try:
            entries = _operators(plan, executor)
            cases = op_cases(entries, plan.meta["config"]["dtypes"])
            if not args.quiet:
                err.print(f"accelbench ops: {len(entries)} operators, {len(cases)} (operator, "
                          f"dtype) on {plan.device.name} ({plan.device.spec}) -> "
                          f"{plan.run.path}", markup=False)
            sweep(plan.run, executor, entries, cases, progress)
        except KeyboardInterrupt:
            interrupted = True
        except UsageError:  # an --ops glob that matches nothing: leave no empty run behind
            if args.resume is None:
                executor.close()
                shutil.rmtree(plan.run.path, ignore_errors=True)
            raise
        finally:
            executor.close()
    base = load(plan.baseline) if plan.baseline is not None else None
    frame = plan.run.finalize(None if base is None else lambda f: judge(f, base))
    defects = write_defects(plan.run)
    plan.meta.update(state="interrupted" if interrupted else "complete",
                     finished=datetime.now(timezone.utc).isoformat(),
                     wall_s=time.perf_counter() - started)
    plan.run.write_meta(plan.meta)
    _report(frame, defects, plan, err, args.quiet)
    if interrupted:
        err.print(f"interrupted: resume with  accelbench ops --resume {plan.run.path}")
        return 130
    return 1 if frame["status"].isin(FAILED).any() else 0


def _report(frame: pd.DataFrame, defects: list[dict[str, Any]], plan: _Plan, err: Console,
            quiet: bool) -> None:
    summary = summarize(frame, defects, plan.baseline.name if plan.baseline else None)
    out = console()
    if defects and not quiet:
        err.print(f"defects ({len(defects)}; reproductions in {plan.run.path / 'defects.json'}):",
                  markup=False)
        for line in defect_lines(defects):
            err.print(line, markup=False)
    for line in summary_lines(summary):
        out.print(line, markup=False)
    out.print(f"{len(frame)} (operator, dtype) in {plan.meta.get('wall_s', 0):.1f} s; "
              f"run directory: {plan.run.path}", markup=False)
