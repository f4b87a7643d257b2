"""The measuring side of the CLI: run, list, info (imports torch and the devices)."""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd
import torch
from rich.console import Console

from accelbench import _core
from accelbench.analysis.compiled import compile_pairs
from accelbench.analysis.drift import (
    case_record,
    drift_with,
    episode_shift,
    machine_drift,
    read_history,
    record_run,
    run_record,
    usual_medians,
)
from accelbench.analysis.peaks import Peak, peak_for
from accelbench.analysis.roofline import annotate, peak_sources
from accelbench.analysis.support import support_matrix
from accelbench.cli.progress import RunProgress, stop_on_sigterm
from accelbench.devices import Device, resolve_device
from accelbench.devices.backends import import_backends, imported_backends
from accelbench.devices.environment import environment
from accelbench.distributed.lead import follow, release_followers
from accelbench.distributed.world import check_world_size, joined_world, world_cases
from accelbench.errors import UsageError
from accelbench.kinds import FAILED, Status
from accelbench.measure.core import Outcome, Settings
from accelbench.measure.rounds import History
from accelbench.report.plots import require_matplotlib
from accelbench.report.tables import (
    advice,
    collectives_table,
    compile_table,
    console,
    fmt_time,
    print_errors,
    roofline_table,
    summary_table,
    support_table,
)
from accelbench.results import SCHEMA_VERSION, RunDir
from accelbench.results.pooled import round_samples
from accelbench.results.rundir import shareable_command
from accelbench.runner.suite import Runner, needs_world
from accelbench.workloads.base import Case, canonical_dtype
from accelbench.workloads.catalog import Suite, cases_digest, filter_cases, load_suite, unmatched

__all__ = ["cmd_info", "cmd_list", "cmd_run"]


def _dtypes(values: list[str] | None) -> list[str] | None:
    if not values:
        return None
    try:
        return [canonical_dtype(v) for v in values]
    except ValueError as exc:
        raise UsageError(f"--dtypes: {exc}") from None


def _select(
    suite_name: str, kernels: list[str] | None, dtypes: list[str] | None
) -> tuple[Suite, list[Case]]:
    suite = load_suite(suite_name)
    cases = filter_cases(suite.cases, kernels, _dtypes(dtypes))
    if not cases:
        raise UsageError(
            f"suite {suite.name!r} has no case for --kernels {kernels} --dtypes {dtypes}"
        )
    missing = unmatched(suite.cases, kernels, _dtypes(dtypes))
    if missing:
        console(stderr=True).print(f"note: no case of suite {suite.name!r} matches "
                                   f"{', '.join(missing)}", markup=False)
    return suite, cases


def _settings(suite_settings: dict[str, Any], args: argparse.Namespace) -> Settings:
    values: dict[str, Any] = dict(suite_settings)
    for key in ("warmup", "max_case_time", "target_rel_ci", "min_samples", "case_timeout",
                "cache", "graph", "sustain", "rounds", "check_repeats"):
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
    if getattr(args, "drift", None) is not None:
        values["drift_sd"] = math.log1p(args.drift / 100)
    return Settings(**values)


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


@dataclass
class _Plan:
    """What a run will do: where it writes, on which device, which cases, how."""

    run: RunDir
    meta: dict[str, Any]
    device: Device
    suite: Suite
    cases: list[Case]
    settings: Settings


def _resumed(args: argparse.Namespace) -> _Plan:
    run = RunDir.open(args.resume)
    meta = run.read_meta()
    cfg = meta.get("config")
    if meta.get("mode") == "fleet" or not isinstance(cfg, dict) or not isinstance(
            meta.get("settings"), dict) or "device" not in cfg or "suite" not in cfg:
        what = "a fleet run" if meta.get("mode") == "fleet" else "no run configuration"
        raise UsageError(f"{args.resume}/meta.json: {what}; --resume finishes runs of "
                         "accelbench run")
    import_backends(list(cfg.get("imports") or []) + list(getattr(args, "imports", [])))
    device = resolve_device(cfg["device"])
    ran_on = (meta.get("environment") or {}).get("device") or {}
    if device.slug != ran_on.get("slug"):
        raise UsageError(
            f"{args.resume}: run was on {ran_on.get('name')!r}, this device is {device.name!r}"
        )
    suite, cases = _select(cfg["suite"], cfg.get("kernels"), cfg.get("dtypes"))
    stored = cfg.get("cases_digest")
    if stored is not None and stored != cases_digest(cases):
        raise UsageError(f"{args.resume}: suite {cfg['suite']!r} now resolves to other cases "
                         "than when the run started (edited?); start a new run instead")
    settings = Settings.from_dict(meta["settings"])
    _refuse_conflicts(args, cfg, settings)
    return _Plan(run, meta, device, suite, cases, settings)


def _refuse_conflicts(args: argparse.Namespace, cfg: dict[str, Any], stored: Settings) -> None:
    """Flags given with --resume must agree with the run's stored configuration."""
    given = {"--device": (args.device, cfg["device"]), "--suite": (args.suite, cfg["suite"]),
             "--kernels": (args.kernels, cfg.get("kernels")),
             "--dtypes": (_dtypes(args.dtypes), cfg.get("dtypes"))}
    bad = [f"{flag} {_show(new)} (run: {_show(old)})" for flag, (new, old) in given.items()
           if new is not None and new != old and not (flag == "--device" and _same_device(new, old))
           and not (flag == "--suite" and _same_suite(new, old))]
    if args.out is not None:
        bad.append(f"--out {args.out} (a resumed run stays in its directory)")
    wanted = _settings(stored.as_dict(), args)
    if args.world_size is not None:
        wanted = replace(wanted, world_size=args.world_size)
    for name, old in stored.as_dict().items():
        new = wanted.as_dict()[name]
        if new != old:
            bad.append(f"--{name.replace('_', '-')} {_show(new)} (run: {_show(old)})")
    if bad:
        raise UsageError(f"{args.resume}: --resume keeps the run's settings; these differ: "
                         f"{'; '.join(bad)}")


def _show(value: Any) -> str:
    return ",".join(map(str, value)) if isinstance(value, list) else str(value)


def _same_device(new: str, old: str) -> bool:
    try:
        return resolve_device(new).spec == old
    except UsageError:
        return False


def _same_suite(new: str, old: str) -> bool:
    return Path(new).suffix == ".toml" and str(Path(new).resolve()) == old


def _new(args: argparse.Namespace) -> _Plan:
    import_backends(args.imports)
    device = resolve_device(args.device)
    suite, cases = _select(args.suite, args.kernels, args.dtypes)
    settings = _settings(suite.settings, args)
    drift_source = "--drift" if args.drift is not None else "none"
    if args.drift is None and settings.rounds > 1:
        stored = machine_drift(device.slug)
        if stored:
            settings = replace(settings, drift_sd=stored.drift_sd, drift_runs=stored.case_runs)
        drift_source = f"history of {stored.runs} runs" if stored else "none"
    if getattr(args, "world_size", None):
        if joined_world() is None:
            check_world_size(device, args.world_size)
        settings = replace(settings, world_size=args.world_size)
    if settings.sustain > 0:
        require_matplotlib("--sustain draws sustain.png")
    _apply_torch_settings(settings)
    run = _create_run(args.out, device.slug)
    meta = {
        "schema_version": SCHEMA_VERSION,
        "run_id": run.run_id,
        "created": datetime.now(timezone.utc).isoformat(),
        "command": shareable_command(["accelbench", *sys.argv[1:]]),
        "config": {
            "device": device.spec,
            "imports": list(imported_backends()),
            "suite": args.suite if Path(args.suite).suffix != ".toml"
            else str(Path(args.suite).resolve()),
            "kernels": args.kernels,
            "dtypes": _dtypes(args.dtypes),
            "cases_digest": cases_digest(cases),
        },
        "settings": settings.as_dict(),
        "drift_source": drift_source,
        "torch_threads": torch.get_num_threads(),
        "environment": environment(device),
    }
    run.write_meta(meta)
    return _Plan(run, meta, device, suite, cases, settings)


def _own_evidence(plan: _Plan) -> Callable[[Mapping[str, Outcome]], History | None] | None:
    """The runner's hook for the run's final intervals: the drift from the history with
    this run as its newest run, and each case's usual median in the history before it
    (None: the drift was given, or no rounds)."""
    if (plan.settings.rounds < 2 or plan.settings.sustain > 0
            or plan.meta.get("drift_source") == "--drift"):
        return None

    def resettle(outcomes: Mapping[str, Outcome]) -> History | None:
        medians, rounds, keys = {}, {}, {}
        for case_key, outcome in outcomes.items():
            row = outcome.row
            if row.get("status") == Status.OK and int(row.get("rounds") or 1) > 1:
                key = (str(row["kernel"]), str(row["case"]), str(row["dtype"]))
                medians[key], rounds[key] = float(row["median_s"]), round_samples(
                    outcome.samples)
                keys[case_key] = "|".join(key)
        history = read_history(plan.device.slug)
        usual = usual_medians(history)
        record = case_record(plan.run.run_id, medians, rounds)
        estimate = drift_with(history, record) if record else None
        if estimate is None:
            return None
        plan.settings = replace(plan.settings, drift_sd=estimate.drift_sd,
                                drift_runs=estimate.case_runs)
        plan.meta.update(settings=plan.settings.as_dict(),
                         drift_source=f"history of {estimate.runs} runs with this one")
        return History(plan.settings, {k: usual[h] for k, h in keys.items() if h in usual})

    return resettle


def _remember(plan: _Plan, drift_before: float) -> float | None:
    """Add a finished run in rounds to its device's history (the drift of later runs);
    returns its shift when it is an episode (also in ``meta.json``): judged with the drift
    known before the run (``drift_before``), of which the run is not part."""
    if plan.settings.rounds < 2 or plan.settings.sustain > 0:
        return None
    record = run_record(plan.run.path)
    if record is None:
        return None
    shift = episode_shift(record, read_history(plan.device.slug), drift_before)
    record_run(plan.device.slug, record)
    if shift is not None:
        plan.meta["episode_shift"] = shift
    return shift


def _drift_line(drift_sd: float, source: Any) -> str:
    if drift_sd > 0 or source not in (None, "none"):
        return (f"intervals include this machine's drift between runs, "
                f"{math.expm1(drift_sd) * 100:.1f}% (from {source or 'the run settings'}; "
                "--drift overrides)")
    return ("this machine's drift between runs is not known yet (fewer than 3 runs in rounds "
            "here): intervals cover the variation a run's rounds show, not slow states that "
            "last longer than a run; accelbench calibrate measures it now")


def _host_peaks(name: str, kind: str) -> Peak | None:
    """Peaks as this run's threads see them (the CPU estimate counts the cores used)."""
    return peak_for(name, kind, threads=torch.get_num_threads())


def _fill_defaults(args: argparse.Namespace) -> None:
    """--device, --suite and --out of a new run (None in the parser, for --resume's sake)."""
    args.device = args.device or "auto"
    args.suite = args.suite or "quick"
    args.out = args.out or Path("runs")


def cmd_run(args: argparse.Namespace) -> int:
    world = joined_world()
    if args.resume is None:
        _fill_defaults(args)
    if world is not None and world.rank != 0:
        # torchrun/srun: the other ranks follow rank 0, which writes the run directory.
        suite, _ = _select(args.suite, args.kernels, args.dtypes)
        import_backends(args.imports)
        return follow(args.device, _settings(suite.settings, args))
    if args.resume is not None:
        plan = _resumed(args)
        _apply_torch_settings(plan.settings)
    else:
        plan = _new(args)
    if world is not None:
        plan.settings = replace(plan.settings, world_size=world.world_size)
        plan.cases = world_cases(plan.cases, needs_world)
        if not plan.cases:
            raise UsageError(f"a {world.launcher} world runs collectives only; "
                             "select some with --kernels collectives")
    err = console(stderr=True)
    if not args.quiet:
        err.print(f"accelbench: {len(plan.cases)} cases of suite {plan.suite.name!r} on "
                  f"{plan.device.name} ({plan.device.spec}) -> {plan.run.path}")
        if plan.settings.rounds > 1 and plan.settings.sustain <= 0:
            err.print(_drift_line(plan.settings.drift_sd, plan.meta.get("drift_source")),
                      markup=False)
    started = time.perf_counter()
    interrupted = False
    drift_before = plan.settings.drift_sd
    with stop_on_sigterm(), RunProgress(err, args.quiet) as progress:
        try:
            Runner(plan.device, plan.settings, plan.run, progress,
                   resettle=_own_evidence(plan)).run(plan.cases)
        except KeyboardInterrupt:
            interrupted = True
    release_followers(plan.device, plan.settings)
    frame = plan.run.finalize(lambda f: annotate(f, _host_peaks))
    plan.meta.update(state="interrupted" if interrupted else "complete",
                     finished=datetime.now(timezone.utc).isoformat())
    episode = None if interrupted or world is not None else _remember(plan, drift_before)
    plan.run.write_meta(plan.meta)
    _finish(frame, plan, args.quiet, time.perf_counter() - started, err)
    if plan.settings.drift_sd != drift_before and not args.quiet:
        err.print(f"with this run's own evidence, the drift between runs is "
                  f"{100 * math.expm1(plan.settings.drift_sd):.1f}% (before it: "
                  f"{100 * math.expm1(drift_before):.1f}%); the intervals include it",
                  markup=False)
    if episode is not None and not args.quiet:
        err.print(f"this run's cases sit {100 * episode:+.1f}% from this machine's recent "
                  "runs of them, beyond its drift: measured in a slow or fast episode; "
                  "rerun before comparing it", markup=False)
    if interrupted:
        err.print(f"interrupted: resume with  accelbench run --resume {plan.run.path}")
        return 130
    return 1 if frame["status"].isin(FAILED).any() else 0


def _finish(frame: pd.DataFrame, plan: _Plan, quiet: bool, seconds: float,
            err: Console) -> None:
    """Sustained-load outputs, the tables and advice; under -q only the run directory."""
    if plan.settings.sustain > 0:
        from accelbench.report.sustain import write_outputs  # matplotlib, when sustaining

        plot = write_outputs(plan.run)
        if plot is not None and not quiet:
            err.print(f"sustained-load plot: {plot}")
    if quiet:  # scripts need the run directory: the one line on stdout
        sys.stdout.write(f"{plan.run.path}\n")
        sys.stdout.flush()
        return
    _report(frame, plan, err)
    for line in advice(frame, plan.settings.target_rel_ci, plan.settings.drift_sd):
        err.print(line, markup=False)
    err.print(f"{len(frame)} cases in {seconds:.1f} s; run directory: {plan.run.path}",
              markup=False)


def _report(frame: pd.DataFrame, plan: _Plan, err: Console) -> None:
    """The end-of-run tables on stdout, failures on stderr."""
    out = console()
    name = plan.device.name
    out.print(summary_table(frame, f"{plan.suite.name} on {name}"))
    out.print(support_table(support_matrix(frame)))
    if (frame["kernel"] == "collectives").any():
        out.print(collectives_table(frame, f"collectives on {name}"))
    compiled = compile_table(compile_pairs(frame), f"eager vs compiled on {name}")
    if compiled is not None:
        out.print(compiled)
    roof = roofline_table(frame, f"roofline on {name}")
    if roof is not None:
        out.print(roof)
        for src in peak_sources(frame):
            out.print(f"  peak: {src}", markup=False, highlight=False)
    print_errors(frame, err)


def cmd_list(args: argparse.Namespace) -> int:
    suite, cases = _select(args.suite, args.kernels, args.dtypes)
    lines = [f"# suite {suite.name}: {suite.description} ({len(cases)} cases)"]
    for case in cases:
        model = f"  [{case.model}]" if case.model else ""
        lines.append(f"{case.kernel:<12} {case.case:<40} {case.dtype:<5} {case.params_text}"
                     f"{model}")
    if sys.stdout.isatty():
        out = console()
        for line in lines:
            out.print(line, markup=False)
    else:  # a pipe or file: one case per line, never folded (grep, wc -l)
        sys.stdout.write("\n".join(lines) + "\n")
    return 0


def _describe_device(device: Device) -> list[tuple[str, str]]:
    rows = [("device", f"{device.name} ({device.spec})"), ("timing", device.timing_method)]
    rows += [(k, str(v)) for k, v in device.facts.items() if v is not None]
    return rows


def cmd_info(args: argparse.Namespace) -> int:
    import_backends(args.imports)
    device = resolve_device(args.device)
    env = environment(device)
    out = console()
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


def _print_selftest(device: Device, out: Console) -> int:
    from accelbench.measure.selftest import selftest

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
