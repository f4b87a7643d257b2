"""The ``accelbench`` command (also ``python -m accelbench``).

Exit codes: 0 success; 1 some cases failed (error, crash, timeout, mismatch)
or regressed; 2 bad usage or input, with a one-line reason and no traceback.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import NoReturn

from rich.console import Console

from accelbench.errors import AccelbenchError, UsageError

__all__ = ["main"]

FAILED_STATUSES = ("error", "crash", "timeout", "mismatch")


class _Parser(argparse.ArgumentParser):
    """argparse that reports bad usage as one line and exit code 2."""

    def error(self, message: str) -> NoReturn:
        raise UsageError(f"{self.prog}: {message}")


def _csv(text: str) -> list[str]:
    return [t.strip() for t in text.split(",") if t.strip()]


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive: {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="accelbench", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)

    run = sub.add_parser("run", help="run a suite and write a run directory")
    run.add_argument("--device", default="auto", help="auto|cpu|cuda[:i]|xpu|mps|npu")
    run.add_argument("--suite", default="quick", help="quick|standard|full or a FILE.toml")
    run.add_argument("--kernels", type=_csv, help="comma-separated families (matmul,...)")
    run.add_argument("--dtypes", type=_csv, help="comma-separated dtypes (fp32,bf16,...)")
    run.add_argument("--target-rel-ci", type=_positive_float,
                     help="stop sampling when the 95%% CI of the median is within this (0.01)")
    run.add_argument("--max-case-time", type=_positive_float,
                     help="sampling time budget per case, seconds")
    run.add_argument("--warmup", type=_positive_float, help="warm-up time per case, seconds")
    run.add_argument("--min-samples", type=_positive_int, help="samples before stopping")
    run.add_argument("--out", type=Path, default=Path("runs"), help="where run dirs go (runs/)")
    run.add_argument("--resume", type=Path, metavar="RUN_DIR",
                     help="finish an interrupted run without redoing finished cases")
    run.add_argument("-q", "--quiet", action="store_true", help="no progress bar or table")
    run.add_argument("--no-check", action="store_true",
                     help="skip numerical checks (reference, determinism, fingerprints)")
    run.add_argument("--threads", type=_positive_int,
                     help="torch.set_num_threads for the run (recorded in meta.json)")
    run.add_argument("--deterministic-algorithms", action="store_true",
                     help="run under torch.use_deterministic_algorithms(True)")

    lst = sub.add_parser("list", help="list the cases of a suite")
    lst.add_argument("--suite", default="full", help="quick|standard|full or a FILE.toml")
    lst.add_argument("--kernels", type=_csv)
    lst.add_argument("--dtypes", type=_csv)

    info = sub.add_parser("info", help="device, software and the harness's own overhead")
    info.add_argument("--device", default="auto")

    cons = sub.add_parser("consistency",
                          help="do runs compute the same outputs? (first run is the baseline)")
    cons.add_argument("runs", nargs="+", type=Path, metavar="RUN_DIR")
    cons.add_argument("--format", choices=("table", "csv", "markdown"), default="table")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the exit code."""
    err = Console(stderr=True, highlight=False)
    try:
        args = build_parser().parse_args(argv)
        if args.command == "run":
            from accelbench.commands import cmd_run
            return cmd_run(args)
        if args.command == "list":
            from accelbench.commands import cmd_list
            return cmd_list(args)
        if args.command == "info":
            from accelbench.commands import cmd_info
            return cmd_info(args)
        if args.command == "consistency":
            from accelbench.commands import cmd_consistency
            return cmd_consistency(args)
        raise UsageError(f"unknown command {args.command!r}")
    except UsageError as exc:
        err.print(f"accelbench: error: {exc}", markup=False)
        return 2
    except AccelbenchError as exc:
        err.print(f"accelbench: error: {exc}", markup=False)
        return 2
    except KeyboardInterrupt:
        err.print("accelbench: interrupted", markup=False)
        return 130


def run_main() -> NoReturn:  # pragma: no cover - thin wrapper
    sys.exit(main())


