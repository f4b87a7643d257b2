"""Implementations of the CLI subcommands (parsing lives in :mod:`accelbench.cli`)."""

from __future__ import annotations

import argparse
import contextlib
import math
import signal
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
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

from accelbench import _core, distributed
from accelbench.catalog import filter_cases, load_suite
from accelbench.devices import Device, resolve_device
from accelbench.environment import environment
from accelbench.errors import UsageError
from accelbench.report import collectives_table, fmt_time, print_errors, summary_table
from accelbench.results import SCHEMA_VERSION, RunDir
from accelbench.roofline import peak_sources, roofline_table
from accelbench.runner import Outcome, Runner, Settings
from accelbench.support import support_matrix, support_table
from accelbench.workloads.base import Case, canonical_dtype

__all__ = [
    "cmd_compare", "cmd_consistency", "cmd_export", "cmd_info", "cmd_list", "cmd_publish",
    "cmd_run",
]

FAILED = ("error", "crash", "timeout", "mismatch")


def _dtypes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    try:
        return [canonical_dtype(v) for v in values]
    except ValueError as exc:
        raise UsageError(f"--dtypes: {exc}") from None


def _select(
    suite_name: str, kernels: list[str] | None, dtypes: list[str] | None
) -> tuple[Any, list[Case]]:
    suite = load_suite(suite_name)
    cases = filter_cases(suite.cases, kernels, _dtypes(dtypes))
    if not cases:
        raise UsageError(
            f"suite {suite.name!r} has no case for --kernels {kernels} --dtypes {dtypes}"
        )
    return suite, cases


def _settings(suite_settings: dict[str, Any], args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = dict(suite_settings)
    for key in ("warmup", "max_case_time", "target_rel_ci", "min_samples", "case_timeout",
                "cache", "graph", "sustain"):
        flag = getattr(args, key, None)
        if flag is not None:
            values[key] = flag
    if getattr(args, "max_memory", None) is not None:
        values["max_memory_gib"] = args.max_memory
    if getattr(args, "no_isolation", False):
        for flag, given in (("--case-timeout", args.case_timeout), ("--max-memory",
                                                                    args.max_memory)):
            if given is not None:
                raise UsageError(f"{flag} needs a worker process; drop --no-isolation")
        values["isolation"] = False
    if getattr(args, "no_check", False):
        values["check"] = False
    if getattr(args, "threads", None) is not None:
        values["threads"] = args.threads
    if getattr(args, "deterministic_algorithms", False):
        values["deterministic_algorithms"] = True
    return Settings(**values)


@contextlib.contextmanager
def _stop_on_sigterm() -> Iterator[None]:
    """Treat SIGTERM like Ctrl-C while running: stop the case in flight, write a valid run."""

    def handler(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _create_run(out_dir: Path, slug: str) -> RunDir:
    try:
        return RunDir.create(out_dir, slug)
    except OSError as exc:
        raise UsageError(f"--out {out_dir}: cannot create a run directory: "
                         f"{exc.strerror or exc}") from None


def _apply_torch_settings(settings: Settings) -> None:
    """Thread count and deterministic algorithms are process-wide torch switches."""
    import torch

    if settings.threads is not None:
        torch.set_num_threads(settings.threads)
    if settings.deterministic_algorithms:
        torch.use_deterministic_algorithms(True)


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
    world = distributed.joined_world()
    if world is not None and world.rank != 0:
        # torchrun/srun: the other ranks follow rank 0, which writes the run directory.
        suite, _ = _select(args.suite, args.kernels, args.dtypes)
        return distributed.follow(args.device, _settings(suite.settings, args))
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
        _apply_torch_settings(settings)
    else:
        device = resolve_device(args.device)
        suite, cases = _select(args.suite, args.kernels, args.dtypes)
        settings = _settings(suite.settings, args)
        if getattr(args, "world_size", None):
            settings = replace(settings, world_size=args.world_size)
        _apply_torch_settings(settings)
        run = _create_run(args.out, device.slug)
        meta = {
            "schema_version": SCHEMA_VERSION,
            "run_id": run.run_id,
            "created": datetime.now(timezone.utc).isoformat(),
            "command": ["accelbench", *sys.argv[1:]],  # no local paths in shared runs
            "config": {
                "device": device.spec,
                "suite": args.suite if Path(args.suite).suffix != ".toml"
                else str(Path(args.suite).resolve()),
                "kernels": args.kernels,
                "dtypes": _dtypes(args.dtypes),
            },
            "settings": settings.as_dict(),
            "torch_threads": _torch_threads(),
            "environment": environment(device),
        }
        run.write_meta(meta)
    if world is not None:
        settings = replace(settings, world_size=world.world_size)
        cases = distributed.world_cases(cases)
        if not cases:
            raise UsageError(f"a {world.launcher} world runs collectives only; "
                             "select some with --kernels collectives")
    if not args.quiet:
        err.print(f"accelbench: {len(cases)} cases of suite {suite.name!r} on {device.name} "
                  f"({device.spec}) -> {run.path}")
    started = time.perf_counter()
    interrupted = False
    with _stop_on_sigterm(), _Progress(err, args.quiet) as progress:
        try:
            Runner(device, settings, run, progress).run(cases)
        except KeyboardInterrupt:
            interrupted = True
    distributed.release_followers(device, settings)
    frame = run.finalize()
    meta.update(state="interrupted" if interrupted else "complete",
                finished=datetime.now(timezone.utc).isoformat())
    run.write_meta(meta)
    if settings.sustain > 0:
        from accelbench.sustain import write_outputs

        plot = write_outputs(run)
        if plot is not None and not args.quiet:
            err.print(f"sustained-load plot: {plot}")
    if not args.quiet:
        out.print(summary_table(frame, f"{suite.name} on {device.name}"))
        out.print(support_table(support_matrix(frame)))
        if (frame["kernel"] == "collectives").any():
            out.print(collectives_table(frame, f"collectives on {device.name}"))
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
    with device.monitor() as monitor:
        pass
    for key, value in monitor.columns().items():
        out.print(f"{key:<22} {value}", markup=False)
    if getattr(args, "selftest", False):
        return _print_selftest(device, out)
    return 0


def _compare_sides(args: argparse.Namespace) -> tuple[list[Path], list[Path]]:
    """The runs of A and B: ``RUN_A RUN_B`` or ``-a RUN... -b RUN...``, not a mix."""
    baseline, candidate = args.baseline or [], args.candidate or []
    if baseline or candidate:
        if args.run_a is not None:
            raise UsageError("give either RUN_A RUN_B or -a/--baseline RUN... "
                             "-b/--candidate RUN..., not both")
        if not baseline or not candidate:
            missing = "-a/--baseline" if not baseline else "-b/--candidate"
            raise UsageError(f"{missing} RUN... is missing: both sides need at least one run")
        return list(baseline), list(candidate)
    if args.run_a is None or args.run_b is None:
        raise UsageError("compare needs two runs: RUN_A RUN_B, "
                         "or -a RUN [RUN ...] -b RUN [RUN ...]")
    return [args.run_a], [args.run_b]


def cmd_compare(args: argparse.Namespace) -> int:
    from accelbench.compare import DEFAULT_THRESHOLD, compare_groups, regressions
    from accelbench.compare_output import render

    runs_a, runs_b = _compare_sides(args)
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold / 100
    result = compare_groups(runs_a, runs_b, threshold=threshold, resamples=args.resamples)
    out = Console(highlight=False, soft_wrap=args.format != "table")
    err = Console(stderr=True, highlight=False)
    render(result, args.format, out, err)
    if args.fail_on_regression is not None:
        bad = regressions(result, args.fail_on_regression)
        for c in bad:
            err.print(f"regression: {c.kernel} {c.case} {c.dtype}: {c.ratio:.3f}x "
                      f"(95% CI {c.ci_low:.3f}-{c.ci_high:.3f}, p={c.p_value:.2g})",
                      markup=False)
        if bad:
            return 1
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from accelbench.export import pytest_benchmark_json

    text = pytest_benchmark_json(args.run)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from accelbench.publish import publish

    folder = publish(args.run, args.results)
    Console(stderr=True, highlight=False).print(f"published {args.run} -> {folder}",
                                                markup=False)
    return 0

def _print_selftest(device: Device, out: Console) -> int:
    from accelbench.selftest import selftest

    checks = selftest(device)
    out.print(f"self-test of the {device.timing_method} timer on {device.name}:", markup=False)
    for c in checks:
        expected = f"{c.expected_s * 1e6:.3f} us" if c.expected_s is not None else "-"
        error = f"{c.error * 100:+.2f}%" if c.error is not None else ""
        verdict = "" if c.tolerance is None else ("ok" if c.ok else
                                                  f"FAIL (> {c.tolerance * 100:g}%)")
        out.print(f"  {c.name:<34} expected {expected:>10}  measured {c.measured_s * 1e6:.3f} us"
                  f"  {error:>8} {verdict} {c.note}".rstrip(), markup=False)
    return 0 if all(c.ok for c in checks) else 1


def _torch_threads() -> int:
    import torch

    return int(torch.get_num_threads())


def cmd_consistency(args: argparse.Namespace) -> int:
    """Per-case agreement of runs with the first one, from stored fingerprints."""
    from rich.table import Table

    from accelbench.consistency import compare_runs, render

    result = compare_runs(args.runs)
    if args.format in ("csv", "markdown"):
        sys.stdout.write(render(result, args.format))
        return 0
    out = Console(highlight=False)
    table = Table(title=f"consistency with {result.runs[0]}")
    for col in ("run", "kernel", "case", "dtype", "status", "ulp_max"):
        table.add_column(col, justify="right" if col == "ulp_max" else "left")
    style = {"bitwise": "green", "within_tolerance": "yellow", "discrepant": "red"}
    for r in result.table.itertuples(index=False):
        ulp_value = float(r.ulp_max)  # type: ignore[arg-type]  # NaN when the case has no fingerprint to compare
        ulp = "" if math.isnan(ulp_value) else f"{ulp_value:.0f}"
        table.add_row(str(r.run), str(r.kernel), str(r.case), str(r.dtype),
                      f"[{style[str(r.status)]}]{r.status}[/]", ulp)
    out.print(table)
    for name in result.runs[1:]:
        counts = result.table[result.table["run"] == name]["status"].value_counts()
        out.print(f"{name}: consistency {100 * result.rate(name):.1f}% "
                  f"(bitwise {counts.get('bitwise', 0)}, within tolerance "
                  f"{counts.get('within_tolerance', 0)}, discrepant "
                  f"{counts.get('discrepant', 0)})", markup=False)
    return 0
