"""The read side of the CLI: compare, consistency, export, publish.

These commands only read run directories (parquet and JSON): this module
imports no torch, no device and no runner, so they start fast and work
where PyTorch cannot be imported.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from accelbench.analysis.compare import DEFAULT_THRESHOLD, compare_groups, regressions
from accelbench.analysis.consistency import check_consistency
from accelbench.errors import UsageError
from accelbench.report.compare import render
from accelbench.report.tables import (
    consistency_lines,
    consistency_table,
    consistency_text,
    console,
)

__all__ = ["cmd_compare", "cmd_consistency", "cmd_export", "cmd_publish"]


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
    runs_a, runs_b = _compare_sides(args)
    threshold = DEFAULT_THRESHOLD if args.threshold is None else args.threshold / 100
    result = compare_groups(runs_a, runs_b, threshold=threshold, resamples=args.resamples)
    out = console(soft_wrap=args.format != "table")
    err = console(stderr=True)
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
    from accelbench.report.export import pytest_benchmark_json  # pandas only

    text = pytest_benchmark_json(args.run)
    if args.output is None:
        sys.stdout.write(text)
    else:
        args.output.parent.mkdir(parents=True, exist_ok=True)
        args.output.write_text(text)
    return 0


def cmd_publish(args: argparse.Namespace) -> int:
    from accelbench.report.publish import publish  # matplotlib: only when publishing

    folder = publish(args.run, args.results)
    console(stderr=True).print(f"published {args.run} -> {folder}", markup=False)
    return 0

def cmd_consistency(args: argparse.Namespace) -> int:
    """Per-case agreement of runs with the first one, from stored fingerprints."""
    result = check_consistency(args.runs)
    if args.format in ("csv", "markdown"):
        sys.stdout.write(consistency_text(result, args.format))
        return 0
    out = console()
    out.print(consistency_table(result))
    for line in consistency_lines(result):
        out.print(line, markup=False)
    return 0
