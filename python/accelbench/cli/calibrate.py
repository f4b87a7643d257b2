"""``accelbench calibrate``: measure the machine's drift between runs now.

Runs ``--runs`` ordinary runs of a probe selection (the quick suite's matmul
cases by default), each a fresh ``accelbench run`` process one after the
other. Like every run in rounds, each adds itself to the device's history
(:mod:`accelbench.analysis.drift`), from which later runs take the drift;
calibrating gives a fresh machine that history at once. ``--show`` prints
the drift the history gives now.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accelbench.analysis.drift import (
    MIN_HISTORY_RUNS,
    DriftEstimate,
    history_path,
    machine_drift,
)
from accelbench.devices import resolve_device
from accelbench.devices.backends import import_backends
from accelbench.errors import AccelbenchError, UsageError
from accelbench.report.tables import console

__all__ = ["cmd_calibrate"]


def _pct(log_sd: float) -> str:
    return f"{math.expm1(log_sd) * 100:.2f}%"


def _probe_run(args: argparse.Namespace, out: Path) -> Path:
    """One probe run in a fresh process; returns its run directory."""
    cmd = [sys.executable, "-m", "accelbench", "run", "--device", args.device,
           "--suite", args.suite, "--kernels", ",".join(args.kernels), "--out", str(out),
           "--rounds", str(args.rounds), "--quiet"]
    for package in args.imports:
        cmd += ["--import", package]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    lines = done.stdout.strip().splitlines()
    if done.returncode not in (0, 1) or not lines:
        last = (done.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise AccelbenchError(f"probe run failed (exit {done.returncode}): {last}")
    return Path(lines[-1])


def cmd_calibrate(args: argparse.Namespace) -> int:
    import_backends(args.imports)
    device = resolve_device(args.device)
    err = console(stderr=True)
    if args.show:
        stored = machine_drift(device.slug)
        if stored is None:
            err.print(f"no drift known for {device.slug} on this host: fewer than 3 runs in "
                      f"rounds in {history_path(device.slug)}", markup=False)
            return 1
        err.print(f"{device.slug}: {_describe(stored)}", markup=False)
        return 0
    if args.runs < MIN_HISTORY_RUNS or args.rounds < 2:
        raise UsageError(f"--runs must be at least {MIN_HISTORY_RUNS} and --rounds at least 2:"
                         " the drift is what runs show beyond their rounds")
    err.print(f"accelbench calibrate: {args.runs} runs of suite {args.suite!r} "
              f"({','.join(args.kernels)}) on {device.name}, one after the other; keep the "
              "machine as it will be when you measure", markup=False)
    with tempfile.TemporaryDirectory(prefix="accelbench-calibrate-") as tmp:
        out = args.out or Path(tmp)
        for i in range(args.runs):
            started = time.perf_counter()
            run = _probe_run(args, out)
            err.print(f"  run {i + 1}/{args.runs}: {time.perf_counter() - started:.1f} s  "
                      f"{run.name}", markup=False)
    estimate = machine_drift(device.slug)
    if estimate is None:
        raise AccelbenchError("the probe runs measured no case ok in two rounds or more")
    err.print(f"{device.slug}: {_describe(estimate)}", markup=False)
    err.print(f"history: {history_path(device.slug)}; later runs of {device.slug} on this "
              "host include the drift in their intervals, and keep it current (--drift "
              "overrides it)", markup=False)
    return 0


def _describe(estimate: DriftEstimate) -> str:
    return (f"drift between runs {_pct(estimate.drift_sd)} (sd, log scale) beyond the "
            f"{_pct(estimate.within_sd)} a run's own rounds show (median over "
            f"{estimate.cases} cases, {estimate.runs} recent runs)")
