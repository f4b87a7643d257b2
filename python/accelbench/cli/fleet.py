"""``accelbench fleet``: every rank of a world runs the same cases; the slow or wrong one is named.

Exit codes: 0 nobody flagged; 1 a rank flagged (slow, slow late, wrong
output, failed alone) or a rank hung or died (named); 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from accelbench.cli.run import _create_run, _select, _settings
from accelbench.devices import resolve_device
from accelbench.devices.environment import environment
from accelbench.distributed.world import check_world_size, default_world_size, joined_world
from accelbench.errors import UsageError
from accelbench.fleet.world import FleetOptions, failure_ranks, fleet_rows, run_joined, run_local
from accelbench.measure.core import Settings
from accelbench.report.fleet import fleet_summary, fleet_table
from accelbench.report.tables import console
from accelbench.results import SCHEMA_VERSION
from accelbench.workloads.base import Case

__all__ = ["cmd_fleet"]


def cmd_fleet(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    suite, cases = _select(args.suite, args.kernels, args.dtypes)
    settings = replace(_settings(suite.settings, args), isolation=False)
    opts = FleetOptions(threshold=args.threshold / 100.0, resamples=args.resamples,
                        sustained=settings.sustain > 0)
    suite_spec = args.suite if Path(args.suite).suffix != ".toml" else str(
        Path(args.suite).resolve())
    env = joined_world()
    if env is not None and env.rank != 0:
        error = run_joined(env, cases, device, settings, "", lambda c, p: None)
        return 0 if error is None else 1
    n = env.world_size if env is not None else (args.world_size or default_world_size(device))
    if n < 2 and env is None:
        raise UsageError("a fleet needs at least 2 ranks (--world-size)")
    if env is None:  # checked before the run directory exists
        check_world_size(device, args.world_size)
    run = _create_run(args.out, device.slug)
    meta = _meta(run.run_id, device.spec, suite_spec, args, n, opts, settings)
    meta["environment"] = environment(device)
    run.write_meta(meta)
    err = console(stderr=True)
    quiet = args.quiet or str(args.json) == "-"
    if not quiet:
        err.print(f"accelbench fleet: {len(cases)} cases on {n} ranks of {device.spec} "
                  f"-> {run.path}")
    failed: dict[int, str | None] = {}

    def on_case(case: Case, payload: Any) -> None:
        if "reports" in payload:
            _, rows = fleet_rows(case, payload["reports"], opts, settings.confidence)
            for row in rows:
                run.record_case(f"{case.key}#rank{row['rank']}", row,
                                {"ranks": [{"rank": row["rank"],
                                            "seconds": _seconds(payload, row["rank"])}]})
        else:
            failed.update(failure_ranks(payload))

    started = time.perf_counter()
    if env is not None:
        failure = run_joined(env, cases, device, settings, run.run_id, on_case)
    else:
        failure = run_local(cases, device, settings, run.run_id, n, suite_spec, on_case)
    frame = run.finalize()
    summary = fleet_summary(frame, threshold=opts.threshold, failure=failure,
                            failed_ranks=failed)
    summary["wall_s"] = time.perf_counter() - started
    text = json.dumps(summary, indent=2)
    (run.path / "fleet.json").write_text(text + "\n")
    meta.update(state="complete" if failure is None else "failed",
                finished=datetime.now(timezone.utc).isoformat())
    run.write_meta(meta)
    if args.json is not None:
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text + "\n")
    if not quiet:
        _print(frame, summary, failure, f"fleet of {n} ranks on {device.spec}", run.path)
    return 0 if summary["healthy"] else 1


def _meta(run_id: str, device: str, suite: str, args: argparse.Namespace, n: int,
          opts: FleetOptions, settings: Settings) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "mode": "fleet",
        "created": datetime.now(timezone.utc).isoformat(),
        "command": ["accelbench", *sys.argv[1:]],
        "config": {"device": device, "suite": suite, "kernels": args.kernels,
                   "dtypes": args.dtypes, "world_size": n, "threshold": opts.threshold},
        "settings": settings.as_dict(),
    }


def _print(frame: pd.DataFrame, summary: dict[str, Any], failure: str | None, title: str,
           path: Path) -> None:
    err = console(stderr=True)
    if len(frame):
        console().print(fleet_table(frame, title))
    if failure:
        err.print(f"[red]fleet run ended:[/red] {failure}", highlight=False)
    names = ", ".join(f"rank {r['rank']} ({r['host']})" for r in summary["flagged_ranks"])
    err.print(f"flagged: {names}" if names else "no rank flagged", highlight=False)
    err.print(f"run directory: {path}")


def _seconds(payload: Any, rank: int) -> list[float]:
    for report in payload["reports"]:
        if report["rank"] == rank:
            return list(report.get("seconds") or [])
    return []
