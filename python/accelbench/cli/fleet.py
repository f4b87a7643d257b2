"""``accelbench fleet``: every rank of a world runs the same cases; the slow or wrong one is named.

Exit codes: 0 nobody flagged; 1 a rank flagged (slow, slow late, wrong
output, failed alone), a link flagged (``--links``), or a rank hung or died
(named); 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from accelbench.cli.run import _create_run, _select, _settings
from accelbench.devices import Device, resolve_device
from accelbench.devices.backends import import_backends, imported_backends
from accelbench.devices.environment import environment
from accelbench.distributed.world import (
    WorldEnv,
    check_world_size,
    default_world_size,
    dist_backend,
    joined_world,
)
from accelbench.errors import UsageError
from accelbench.fleet.linkplan import LinkOptions
from accelbench.fleet.world import FleetOptions, failure_ranks, fleet_rows, run_joined, run_local
from accelbench.measure.core import Settings
from accelbench.report.fleet import fleet_summary, fleet_table, plot_fleet
from accelbench.report.links import link_tables, links_summary
from accelbench.report.tables import console
from accelbench.results import SCHEMA_VERSION
from accelbench.results.atomic import write_frame, write_text
from accelbench.results.rundir import RunDir, shareable_command
from accelbench.results.schema import links_frame
from accelbench.workloads.base import Case

__all__ = ["cmd_fleet"]


def cmd_fleet(args: argparse.Namespace) -> int:
    import_backends(args.imports)
    device = resolve_device(args.device)
    suite, cases = _select(args.suite, args.kernels, args.dtypes)
    if args.links_only:
        cases = []
    settings = replace(_settings(suite.settings, args), isolation=False)
    opts = FleetOptions(threshold=args.threshold / 100.0, resamples=args.resamples,
                        sustained=settings.sustain > 0, links=_link_options(args, device))
    suite_spec = args.suite if Path(args.suite).suffix != ".toml" else str(
        Path(args.suite).resolve())
    env = joined_world()
    if env is not None and env.rank != 0:
        error = run_joined(env, cases, device, settings, "", lambda c, p: None, opts.links)
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
    quiet = args.quiet or str(args.json) == "-"
    if not quiet:
        console(stderr=True).print(
            f"accelbench fleet: {len(cases)} cases{' and the links' if opts.links else ''} "
            f"on {n} ranks of {device.spec} -> {run.path}")
    started = time.perf_counter()
    failure, failed, links = _execute(run, env, cases, device, settings, opts, n, suite_spec)
    frame = run.finalize()
    summary = fleet_summary(frame, threshold=opts.threshold, failure=failure,
                            failed_ranks=failed)
    summary["wall_s"] = time.perf_counter() - started
    summary["world_size"] = summary["world_size"] or n
    link_frame = _write_links(run.path, links) if opts.links else None
    if link_frame is not None:
        summary["links"] = links_summary(link_frame)
        summary["healthy"] = summary["healthy"] and not summary["links"]["flagged"]
    plot_fleet(frame, run.path / "fleet.png", opts.threshold)
    _write_summary(args, run.path, summary)
    meta.update(state="complete" if failure is None else "failed",
                finished=datetime.now(timezone.utc).isoformat())
    run.write_meta(meta)
    if not quiet:
        _print(frame, link_frame, summary, failure, f"fleet of {n} ranks on {device.spec}",
               run.path)
    return 0 if summary["healthy"] else 1  # healthy: no rank flagged and no failure


def _execute(run: RunDir, env: WorldEnv | None, cases: list[Case], device: Device,
             settings: Settings, opts: FleetOptions, n: int, suite_spec: str,
             ) -> tuple[str | None, dict[int, str | None], list[dict[str, Any]]]:
    """Run the cases (and links) in the world, recording every rank's rows as they come:
    the fatal failure, the ranks it names, and the link rows."""
    failed: dict[int, str | None] = {}
    links: list[dict[str, Any]] = []

    def on_case(case: Case | None, payload: Any) -> None:
        if case is None and "links" in payload:
            links.extend(payload["links"] or [])
        elif case is not None and "reports" in payload:
            _, rows = fleet_rows(case, payload["reports"], opts, settings.confidence)
            for row in rows:
                run.record_case(f"{case.key}#rank{row['rank']}", row,
                                {"ranks": [{"rank": row["rank"],
                                            "seconds": _seconds(payload, row["rank"])}]})
        else:
            failed.update(failure_ranks(payload))

    if env is not None:
        failure = run_joined(env, cases, device, settings, run.run_id, on_case, opts.links)
    else:
        failure = run_local(cases, device, settings, run.run_id, n, suite_spec, on_case,
                            opts.links)
    return failure, failed, links


def _link_options(args: argparse.Namespace, device: Device) -> LinkOptions | None:
    if not (args.links or args.links_only):
        return None
    if dist_backend(device.backend) is None:
        raise UsageError(f"--links needs a collective library for {device.backend}; "
                         "torch.distributed knows none")
    if args.link_samples < 3:
        raise UsageError("--link-samples must be at least 3 (a link is judged by a CI)")
    size = args.link_size or ((1 << 20) if device.backend == "cpu" else (64 << 20))
    return LinkOptions(size=size, samples=args.link_samples,
                       threshold=args.link_threshold / 100.0, resamples=args.resamples)


def _write_links(path: Path, rows: list[dict[str, Any]]) -> pd.DataFrame:
    frame = links_frame(rows)
    write_frame(path / "links.parquet", frame)
    write_frame(path / "links.csv", frame)
    return frame


def _write_summary(args: argparse.Namespace, path: Path, summary: dict[str, Any]) -> None:
    text = json.dumps(summary, indent=2)
    write_text(path / "fleet.json", text + "\n")
    if args.json is not None:
        if str(args.json) == "-":
            print(text)
        else:
            args.json.write_text(text + "\n")


def _meta(run_id: str, device: str, suite: str, args: argparse.Namespace, n: int,
          opts: FleetOptions, settings: Settings) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION, "run_id": run_id, "mode": "fleet",
        "created": datetime.now(timezone.utc).isoformat(),
        "command": shareable_command(["accelbench", *sys.argv[1:]]),
        "config": {"device": device, "suite": suite, "kernels": args.kernels,
                   "dtypes": args.dtypes, "world_size": n, "threshold": opts.threshold,
                   "imports": list(imported_backends()),
                   "links": None if opts.links is None else asdict(opts.links)},
        "settings": settings.as_dict(),
    }


def _print(frame: pd.DataFrame, links: pd.DataFrame | None, summary: dict[str, Any],
           failure: str | None, title: str, path: Path) -> None:
    err = console(stderr=True)
    if len(frame):
        console().print(fleet_table(frame, title))
    for table in link_tables(links) if links is not None else []:
        console().print(table)
    if failure:
        err.print(f"[red]fleet run ended:[/red] {failure}", highlight=False)
    names = ", ".join(f"rank {r['rank']} ({r['host']})" for r in summary["flagged_ranks"])
    err.print(f"flagged: {names}" if names else "no rank flagged", highlight=False)
    if links is not None:
        bad = summary["links"]["flagged"]
        err.print("slow links: " + ", ".join(f"{b['chain']} ({b['flag']})" for b in bad)
                  if bad else "no link flagged", highlight=False)
    err.print(f"run directory: {path}")


def _seconds(payload: Any, rank: int) -> list[float]:
    for report in payload["reports"]:
        if report["rank"] == rank:
            return list(report.get("seconds") or [])
    return []
