"""``accelbench calibrate``: measure the machine's drift between runs and store it.

Runs ``--runs`` ordinary runs of a probe selection (the quick suite's matmul
cases by default), each a fresh ``accelbench run`` process one after the
other, estimates the drift from them (:func:`accelbench.analysis.drift.estimate_drift`)
and stores it for the device and host; later runs include it in their
intervals. ``--show`` prints what is stored.
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from accelbench.analysis.drift import estimate_drift, load_profile, profile_path, save_profile
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
           "--rounds", str(args.rounds), "--drift", "0", "--quiet"]
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
        stored = load_profile(device.slug)
        if stored is None:
            err.print(f"no drift stored for {device.slug} on this host "
                      f"({profile_path(device.slug)})", markup=False)
            return 1
        err.print(f"{device.slug}: drift between runs {_pct(stored.drift_sd)} (sd), measured "
                  f"{stored.measured} from {stored.runs} runs x {stored.cases} cases",
                  markup=False)
        return 0
    if args.runs < 2 or args.rounds < 2:
        raise UsageError("--runs and --rounds must be at least 2: the drift is what runs show "
                         "beyond their rounds")
    err.print(f"accelbench calibrate: {args.runs} runs of suite {args.suite!r} "
              f"({','.join(args.kernels)}) on {device.name}, one after the other; keep the "
              "machine as it will be when you measure", markup=False)
    with tempfile.TemporaryDirectory(prefix="accelbench-calibrate-") as tmp:
        out = args.out or Path(tmp)
        runs: list[Path] = []
        for i in range(args.runs):
            started = time.perf_counter()
            runs.append(_probe_run(args, out))
            err.print(f"  run {i + 1}/{args.runs}: {time.perf_counter() - started:.1f} s  "
                      f"{runs[-1].name}", markup=False)
        estimate = estimate_drift(runs)
    path = save_profile(estimate)
    err.print(f"drift between runs: {_pct(estimate.drift_sd)} (sd, log scale) beyond the "
              f"{_pct(estimate.within_sd)} a run's own rounds show (median over "
              f"{estimate.cases} cases)", markup=False)
    err.print(f"stored in {path}; runs of {device.slug} on this host now include it in "
              "their intervals (--drift overrides it)", markup=False)
    return 0
