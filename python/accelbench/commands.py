"""Implementations of the CLI subcommands (parsing lives in :mod:`accelbench.cli`)."""

from __future__ import annotations

import argparse
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from accelbench import _core
from accelbench.catalog import filter_cases, load_suite
from accelbench.devices import Device, resolve_device
from accelbench.environment import environment
from accelbench.errors import UsageError
from accelbench.report import fmt_time, print_errors, summary_table
from accelbench.results import SCHEMA_VERSION, RunDir
from accelbench.roofline import peak_sources, roofline_table
from accelbench.runner import Outcome, Runner, Settings
from accelbench.workloads.base import Case, canonical_dtype

__all__ = ["cmd_info", "cmd_list", "cmd_run"]

FAILED = ("error", "crash", "timeout", "mismatch")


def _dtypes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    try:
        return [canonical_dtype(v) for v in values]
    except ValueError as exc:
        raise UsageError(f"--dtypes: {exc}") from None


def _select(suite_name: str, kernels: list[str] | None, dtypes: list[str] | None) -> tuple[Any, list[Case]]:
    suite = load_suite(suite_name)
    cases = filter_cases(suite.cases, kernels, _dtypes(dtypes))
    if not cases:
        raise UsageError(
            f"suite {suite.name!r} has no case for --kernels {kernels} --dtypes {dtypes}"
        )
    return suite, cases


def _settings(suite_settings: dict[str, Any], args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = dict(suite_settings)
    for key in ("warmup", "max_case_time", "target_rel_ci", "min_samples"):
        flag = getattr(args, key, None)
        if flag is not None:
            values[key] = flag
    return Settings(**values)


class _Progress:
    """A rich progress bar on stderr; plain lines when stderr is not a terminal."""

    def __init__(self, console: Console, quiet: bool) -> None:
        self.console = console
        self.quiet = quiet
        self.bar: Progress | None = None
        self.task: Any = None

    def __enter__(self) -> _Progress:
        if not self.quiet and self.console.is_terminal:
            self.bar = Progress(
                TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                TimeElapsedColumn(), TimeRemainingColumn(), console=self.console,
                transient=False,
            )
            self.bar.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bar is not None:
            self.bar.__exit__(None, None, None)

    def __call__(self, what: str, case: Case, done: int, total: int, out: Outcome | None) -> None:
        label = f"{case.kernel} {case.case} {case.dtype}"
        if self.bar is not None:
            if self.task is None:
                self.task = self.bar.add_task(label, total=total, completed=done)
            self.bar.update(self.task, description=label, completed=done)
        elif not self.quiet and what == "end" and out is not None:
            self.console.print(
                f"[{done}/{total}] {label}: {out.status} {fmt_time(out.row.get('median_s'))}",
                markup=False, highlight=False,
            )


def cmd_run(args: argparse.Namespace) -> int:
    out = Console(highlight=False)
    err = Console(stderr=True, highlight=False)
    if args.resume is not None:
        run = RunDir.open(args.resume)
        meta = run.read_meta()
        cfg = meta["config"]
        device = resolve_device(cfg["device"])
        if device.slug != meta["environment"]["device"]["slug"]:
            raise UsageError(
                f"{args.resume}: run was on {meta['environment']['device']['name']!r}, "
                f"this device is {device.name!r}"
            )
        suite, cases = _select(cfg["suite"], cfg["kernels"], cfg["dtypes"])
        settings = Settings(**meta["settings"])
    else:
        device = resolve_device(args.device)
        suite, cases = _select(args.suite, args.kernels, args.dtypes)
        settings = _settings(suite.settings, args)
        run = RunDir.create(args.out, device.slug)
        meta = {
            "schema_version": SCHEMA_VERSION,
            "run_id": run.run_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "command": sys.argv,
            "config": {
                "device": device.spec,
                "suite": args.suite if Path(args.suite).suffix != ".toml"
                else str(Path(args.suite).resolve()),
                "kernels": args.kernels,
                "dtypes": _dtypes(args.dtypes),
            },
            "settings": settings.as_dict(),
            "environment": environment(device),
        }
        run.write_meta(meta)
    if not args.quiet:
        err.print(f"accelbench: {len(cases)} cases of suite {suite.name!r} on {device.name} "
                  f"({device.spec}) -> {run.path}")
    started = time.perf_counter()
    interrupted = False
    with _Progress(err, args.quiet) as progress:
        try:
            Runner(device, settings, run, progress).run(cases)
        except KeyboardInterrupt:
            interrupted = True
    frame = run.finalize()
    if not args.quiet:
        out.print(summary_table(frame, f"{suite.name} on {device.name}"))
        roof = roofline_table(frame, f"roofline on {device.name}")
        if roof is not None:
            out.print(roof)
            for src in peak_sources(frame):
                out.print(f"  peak: {src}", markup=False, highlight=False)
        print_errors(frame, err)
        err.print(f"{len(frame)} cases in {time.perf_counter() - started:.1f} s; run directory: "
                  f"{run.path}")
    if interrupted:
        err.print(f"interrupted: resume with  accelbench run --resume {run.path}")
        return 130
    return 1 if frame["status"].isin(FAILED).any() else 0


def cmd_list(args: argparse.Namespace) -> int:
    suite, cases = _select(args.suite, args.kernels, args.dtypes)
    out = Console(highlight=False)
    out.print(f"# suite {suite.name}: {suite.description} ({len(cases)} cases)", markup=False)
    for case in cases:
        model = f"  [{case.model}]" if case.model else ""
        out.print(f"{case.kernel:<12} {case.case:<40} {case.dtype:<5} {case.params_text}{model}",
                  markup=False)
    return 0


def _describe_device(device: Device) -> list[tuple[str, str]]:
    rows = [("device", f"{device.name} ({device.spec})"), ("timing", device.timing_method)]
    rows += [(k, str(v)) for k, v in device.facts.items() if v is not None]
    return rows


def cmd_info(args: argparse.Namespace) -> int:
    device = resolve_device(args.device)
    env = environment(device)
    out = Console(highlight=False)
    for key, value in _describe_device(device):
        out.print(f"{key:<22} {value}", markup=False)
    for key, value in env["software"].items():
        out.print(f"{key:<22} {value}", markup=False)
    out.print(f"{'git_revision':<22} {env['git_revision']}", markup=False)
    out.print(f"{'clock_resolution':<22} {fmt_time(_core.clock_resolution())}", markup=False)
    out.print(f"{'loop_overhead':<22} {fmt_time(_core.loop_overhead())} per launch "
              "(Rust sampler calling an empty Python callable)", markup=False)
    return 0
