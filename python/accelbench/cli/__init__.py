"""The ``accelbench`` command (also ``python -m accelbench``).

Exit codes: 0 success; 1 some cases failed (error, crash, timeout, mismatch)
or regressed; 2 bad usage or input, with a one-line reason and no traceback.
"""

from __future__ import annotations

import argparse
import math
import re
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

from rich.console import Console

from accelbench.errors import AccelbenchError, UsageError
from accelbench.limits import (
    MAX_GIB,
    MAX_RANKS,
    MAX_RESAMPLES,
    MAX_THREADS,
    SETTING_LIMITS,
    WEEK_S,
)
from accelbench.ops import COMPILE_OP_TIMEOUT, OP_TIMEOUT

__all__ = ["build_parser", "main"]


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _csv(text: str) -> list[str]:
    values = [t.strip() for t in text.split(",") if t.strip()]
    if not values:
        raise argparse.ArgumentTypeError(f"empty list: {text!r}")
    return values


def _bounded_float(high: float) -> Callable[[str], float]:
    """A parser of a finite number in (0, high]: bad values never reach a run directory."""

    def parse(text: str) -> float:
        try:
            value = float(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
        if not math.isfinite(value):
            raise argparse.ArgumentTypeError(f"must be a finite number: {text!r}")
        if not value > 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high:g}: {text!r}")
        return value

    return parse


def _bounded_int(high: int) -> Callable[[str], int]:
    """A parser of an integer in [1, high]."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
        if value <= 0:
            raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
        if value > high:
            raise argparse.ArgumentTypeError(f"must be at most {high}: {text!r}")
        return value

    return parse


_seconds = _bounded_float(WEEK_S)
_fraction = _bounded_float(SETTING_LIMITS["target_rel_ci"])
_gib = _bounded_float(MAX_GIB)
_samples = _bounded_int(int(SETTING_LIMITS["min_samples"]))
_rounds = _bounded_int(int(SETTING_LIMITS["rounds"]))
_threads = _bounded_int(MAX_THREADS)
_resamples = _bounded_int(MAX_RESAMPLES)
_ranks = _bounded_int(MAX_RANKS)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    _add_run(sub.add_parser("run", help="run a suite and write a run directory"))
    lst = sub.add_parser("list", help="list the cases of a suite")
    lst.add_argument("--suite", default="full", help="quick|standard|full or a FILE.toml")
    lst.add_argument("--kernels", type=_csv)
    lst.add_argument("--dtypes", type=_csv)
    info = sub.add_parser("info", help="device, software and the harness's own overhead")
    info.add_argument("--device", default="auto")
    _add_import(info)
    info.add_argument("--selftest", action="store_true",
                      help="time work of known duration with the device's timer; exit 1 if off")
    _add_calibrate(sub)
    _add_compare(sub)
    _add_read(sub)
    _add_fleet(sub)
    _add_ops(sub)
    return parser


def _add_import(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--import", dest="imports", action="append", default=[],
                        metavar="PACKAGE",
                        help="import an out-of-tree backend package first (torch_npu, "
                             "torch_mlu, torch_musa, ...); repeatable")


def _add_run(run: argparse.ArgumentParser) -> None:
    # --device, --suite and --out default to None so that --resume can tell a given flag
    # from a default (cli.run fills in auto, quick and runs/).
    run.add_argument("--device",
                     help="auto|cpu|cuda[:i]|xpu|mps or a PrivateUse1 backend (npu, mlu, "
                          "musa, ...; see --import); default auto")
    _add_import(run)
    run.add_argument("--suite", help="quick|standard|full or a FILE.toml (default quick)")
    run.add_argument("--kernels", type=_csv, help="comma-separated families (matmul,...)")
    run.add_argument("--dtypes", type=_csv, help="comma-separated dtypes (fp32,bf16,...)")
    run.add_argument("--target-rel-ci", type=_fraction,
                     help="stop sampling when the 95%% CI of the median is within this (0.01)")
    run.add_argument("--max-case-time", type=_seconds,
                     help="sampling time budget per case, seconds")
    run.add_argument("--warmup", type=_seconds, help="warm-up time per case, seconds")
    run.add_argument("--min-samples", type=_samples, help="samples before stopping")
    run.add_argument("--rounds", type=_rounds,
                     help="measure every case in this many rounds, each in a fresh worker and a "
                          "shuffled order, splitting the time budget (suites: 3); the CI then "
                          "covers the variation between rounds")
    run.add_argument("--drift", type=_drift_percent, metavar="PCT",
                     help="the machine's run-to-run drift, percent, added to every interval "
                          "(default: what accelbench calibrate stored for this device and "
                          "host, else 0: unmeasured)")
    run.add_argument("--out", type=Path, help="where run dirs go (runs/)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="finish an interrupted run without redoing finished cases")
    run.add_argument("-q", "--quiet", action="store_true",
                     help="no progress bar or table; prints only the run directory (stdout)")
    run.add_argument("--case-timeout", type=_seconds, metavar="S",
                     help="kill a case after S seconds and record it as timeout "
                     "(default: 2 x (warm-up + max case time) + 120)")
    run.add_argument("--max-memory", type=_gib, metavar="GIB",
                     help="address space a worker may add after start-up, GiB; beyond it an "
                     "allocation fails and the case is an error")
    run.add_argument("--no-isolation", action="store_true",
                     help="run cases in this process (debugging; a crash ends the run)")
    run.add_argument("--world-size", type=_ranks,
                     help="ranks of the local world the collectives run in (2 on CPU, "
                          "one per device otherwise; ignored under torchrun/srun)")
    run.add_argument("--check-repeats", type=_bounded_int(10_000), metavar="K",
                     help="collectives: run the exact data check K times on fresh inputs "
                          "(an intermittent fault shows in some launches only; default 1)")
    run.add_argument("--cache", choices=("warm", "cold"),
                     help="warm (default) or cold: flush the last-level cache before each launch")
    run.add_argument("--graph", action="store_true", default=None,
                     help="replay launches from a captured device graph (CUDA/HIP, NPU)")
    run.add_argument("--sustain", type=_seconds, metavar="SECONDS",
                     help="run each case continuously this long; writes sustain.png")
    run.add_argument("--no-check", action="store_true",
                     help="skip numerical checks (reference, determinism, fingerprints)")
    run.add_argument("--threads", type=_threads,
                     help="torch.set_num_threads for the run (recorded in meta.json)")
    run.add_argument("--deterministic-algorithms", action="store_true",
                     help="run under torch.use_deterministic_algorithms(True)")


def _add_calibrate(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="measure this machine's drift between runs (stored; "
                                         "later runs' intervals include it)")
    p.add_argument("--device", default="auto")
    _add_import(p)
    p.add_argument("--suite", default="quick", help="suite of the probe runs (quick)")
    p.add_argument("--kernels", type=_csv, default=["matmul"],
                   help="families of the probe runs (matmul)")
    p.add_argument("--runs", type=_bounded_int(100), default=5,
                   help="probe runs, each a fresh accelbench run (5)")
    p.add_argument("--rounds", type=_rounds, default=3,
                   help="rounds of each probe run, as the runs it serves (3)")
    p.add_argument("--out", type=Path,
                   help="keep the probe runs here (default: a temporary directory)")
    p.add_argument("--show", action="store_true",
                   help="print the stored drift of the device and exit")


def _add_compare(sub: Any) -> None:
    cmp = sub.add_parser(
        "compare", help="A/B comparison of runs (B against baseline A)",
        usage="accelbench compare [options] RUN_A RUN_B\n"
              "       accelbench compare [options] -a RUN [RUN ...] -b RUN [RUN ...]",
        description="Compare candidate run(s) B against baseline run(s) A, case by case. "
                    "Several runs per side (-a/-b) put run-to-run noise into the CI.")
    cmp.add_argument("run_a", type=Path, nargs="?", metavar="RUN_A", help="baseline run directory")
    cmp.add_argument("run_b", type=Path, nargs="?", metavar="RUN_B",
                     help="candidate run directory")
    cmp.add_argument("-a", "--baseline", type=Path, nargs="+", action="extend", metavar="RUN",
                     help="baseline run directories (several runs of A; repeatable)")
    cmp.add_argument("-b", "--candidate", type=Path, nargs="+", action="extend", metavar="RUN",
                     help="candidate run directories (several runs of B; repeatable)")
    cmp.add_argument("--threshold", type=_nonnegative_percent, default=None, metavar="PCT",
                     help="noise threshold in percent (default 2)")
    cmp.add_argument("--fail-on-regression", type=_nonnegative_percent, default=None,
                     metavar="PCT", help="exit 1 when a case is significantly slower by > PCT%%")
    cmp.add_argument("--format", choices=("table", "markdown", "csv", "json"), default="table")
    cmp.add_argument("--resamples", type=_resamples, default=10_000,
                     help="bootstrap resamples per case (10000)")


def _add_read(sub: Any) -> None:
    exp = sub.add_parser("export", help="write a run in another tool's format")
    exp.add_argument("run", type=Path, metavar="RUN")
    exp.add_argument("--pytest-benchmark", action="store_true", required=True,
                     help="pytest-benchmark's saved-run JSON (for pytest-benchmark compare)")
    exp.add_argument("-o", "--output", type=Path, help="output file (default: stdout)")

    pub = sub.add_parser("publish", help="write results/<device>/ tables and plots from a run")
    pub.add_argument("run", type=Path, metavar="RUN")
    pub.add_argument("--results", type=Path, default=Path("results"),
                     help="results directory (default results/)")

    cons = sub.add_parser("consistency",
                          help="do runs compute the same outputs? (first run is the baseline)")
    cons.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    cons.add_argument("--format", choices=("table", "csv", "markdown"), default="table")


def _add_fleet(sub: Any) -> None:
    p = sub.add_parser("fleet", help="run the same cases on every rank of a world at once "
                       "and flag the slow or wrong rank (exit 1)")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda|... (rank i uses device i)")
    _add_import(p)
    p.add_argument("--suite", default="quick", help="quick|standard|full or a FILE.toml")
    p.add_argument("--kernels", type=_csv, help="comma-separated families")
    p.add_argument("--dtypes", type=_csv, help="comma-separated dtypes")
    p.add_argument("--world-size", type=_ranks,
                   help="ranks of the local world (one per device; 2 on CPU; ignored under "
                        "torchrun/srun, where the ranks come from the environment)")
    p.add_argument("--threshold", type=_bounded_float(1e6), default=5.0, metavar="PCT",
                   help="flag a rank when the whole CI of its ratio to the world median is "
                        "more than PCT%% slower (5)")
    p.add_argument("--sustain", type=_seconds, metavar="SECONDS",
                   help="run each case this long in time windows; a rank slow late is flagged")
    p.add_argument("--resamples", type=_resamples, default=2000,
                   help="bootstrap resamples per rank and case (2000)")
    p.add_argument("--max-case-time", type=_seconds, help="sampling budget per case, s")
    p.add_argument("--warmup", type=_seconds, help="warm-up per case, s")
    p.add_argument("--min-samples", type=_samples, help="samples before stopping")
    p.add_argument("--target-rel-ci", type=_fraction, help="target CI of the median")
    p.add_argument("--no-check", action="store_true", help="skip output fingerprints")
    p.add_argument("--links", action="store_true",
                   help="after the cases, measure the links: every pair of devices within a "
                        "node, a ring per rail across nodes, bisected to name a slow link")
    p.add_argument("--links-only", action="store_true", help="measure the links, no cases")
    p.add_argument("--link-size", type=_size, metavar="BYTES",
                   help="message size of the link tests (64MiB; 1MiB on CPU)")
    p.add_argument("--link-samples", type=_samples, default=9,
                   help="samples per link, each of 4 messages (9)")
    p.add_argument("--link-threshold", type=_bounded_float(1e6), default=10.0, metavar="PCT",
                   help="flag a link when the whole CI of its time ratio to its peers is more "
                        "than PCT%% slower (10)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run dirs go (runs/)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write the fleet summary here ('-': stdout, no table)")
    p.add_argument("-q", "--quiet", action="store_true", help="no table")


def _size(text: str) -> int:
    """``4MiB``, ``65536``: bytes (binary units)."""
    match = re.fullmatch(r"\s*(\d+)\s*(b|kib|mib|gib)?\s*", text.lower())
    if not match or int(match.group(1)) <= 0:
        raise argparse.ArgumentTypeError(f"not a size: {text!r} (e.g. 65536, 1MiB, 64MiB)")
    scale = {None: 1, "b": 1, "kib": 2**10, "mib": 2**20, "gib": 2**30}[match.group(2)]
    size = int(match.group(1)) * scale
    if size > MAX_GIB * 2**30:
        raise argparse.ArgumentTypeError(f"must be at most {MAX_GIB:g} GiB: {text!r}")
    return size


def _add_ops(sub: Any) -> None:
    """The ``ops`` subcommand's options."""
    p = sub.add_parser("ops", help="sweep PyTorch's operators (OpInfo): supported N of M, "
                       "agreement with float64, determinism, defects")
    p.add_argument("--device", default="auto", help="auto|cpu|cuda[:i]|xpu|mps|npu|...")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="PACKAGE",
                   help="import an out-of-tree backend package first (torch_npu, ...)")
    p.add_argument("--ops", type=_csv, metavar="GLOB[,GLOB]",
                   help="operators whose OpInfo name matches (add, nn.functional.*)")
    p.add_argument("--set", dest="op_set", default="all",
                   help="a named operator set of the catalog (llm) or all (default)")
    p.add_argument("--dtypes", type=_csv, help="comma-separated dtypes (fp32,bf16,fp16)")
    p.add_argument("--compile", action="store_true",
                   help="also run each operator under torch.compile: status and agreement "
                        "against eager and float64")
    p.add_argument("--compile-samples", type=_samples, default=4, metavar="N",
                   help="samples per operator run compiled (each shape compiles; 4)")
    p.add_argument("--time", action="store_true",
                   help="quick timing of each operator's first sample (Rust sampler)")
    p.add_argument("--baseline", type=Path, metavar="RUN",
                   help="an ops run of another device: two-sided verdicts on the same inputs")
    p.add_argument("--op-timeout", type=_seconds, metavar="S",
                   help=f"an operator (all samples) taking longer is a hang ({OP_TIMEOUT:g}; "
                        f"{COMPILE_OP_TIMEOUT:g} with --compile)")
    p.add_argument("--out", type=Path, default=Path("runs"), help="where run dirs go (runs/)")
    p.add_argument("--resume", type=Path, metavar="RUN_DIR",
                   help="finish an interrupted sweep without redoing finished operators")
    p.add_argument("-q", "--quiet", action="store_true", help="no progress, only the summary")


def _nonnegative_percent(text: str) -> float:
    try:
        value = float(text.rstrip("%"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a percentage: {text!r}") from None
    if not (value >= 0 and value < 1e6):
        raise argparse.ArgumentTypeError(f"must be a percentage >= 0: {text!r}")
    return value


def _drift_percent(text: str) -> float:
    value = _nonnegative_percent(text)
    if value >= 100:
        raise argparse.ArgumentTypeError(f"must be below 100: {text!r}")
    return value


def _command(name: str) -> Callable[[argparse.Namespace], int]:
    """The implementation of a subcommand. The read side (compare, consistency, export,
    publish) lives in :mod:`accelbench.cli.read`, which never imports torch."""
    if name in ("run", "list", "info"):
        from accelbench.cli import run as module
    elif name == "fleet":
        from accelbench.cli import fleet as module  # type: ignore[no-redef]
    elif name == "ops":
        from accelbench.cli import ops as module  # type: ignore[no-redef]
    elif name == "calibrate":
        from accelbench.cli import calibrate as module  # type: ignore[no-redef]
    else:
        from accelbench.cli import read as module  # type: ignore[no-redef]
    command: Callable[[argparse.Namespace], int] = getattr(module, f"cmd_{name}")
    return command


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    err = Console(stderr=True, highlight=False)
    try:
        args = build_parser().parse_args(argv)
        return _command(args.command)(args)
    except AccelbenchError as exc:  # UsageError included: one line, exit 2
        err.print(f"accelbench: error: {exc}", markup=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("accelbench: interrupted", markup=False)
        return 130


def run_main() -> NoReturn:  # pragma: no cover - thin wrapper
    sys.exit(main())


