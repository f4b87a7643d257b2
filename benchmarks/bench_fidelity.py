"""Does a reported confidence interval cover a rerun? Single-round runs against rounds.

Run: ``python benchmarks/bench_fidelity.py [--runs 6] [--kernels matmul] [--suite quick]``.

Method. First ``accelbench calibrate`` (``--calibrate-runs``, 5), as a user
runs it once on a new machine, with a history of its own (``ACCELBENCH_HOME``
in this trial's folder); the default runs then take their drift from that
history, which each of them extends. Then ``--runs`` K independent runs of
the suite (``accelbench run``, the
real command in a fresh process each time) for each of two designs, side by
side in one invocation and interleaved in time (so a slow change of the
machine reaches both alike): ``--rounds 1`` (every case sampled once, in one
worker: the design before rounds) and the suite's default (3 rounds, each in
a fresh worker and a shuffled order, the budget split across them). After
each pair, a third run of the default design whose every kernel launch is
followed by a busy-wait of 25% of that case's median in the first default
run (a user family wrapping the matmul family: a real, measured slowdown),
and one pass of ``torch.utils.benchmark``'s ``blocked_autorange`` over the
same cases (same shapes and inputs, built by the family), in this process.

Printed per design:

* **coverage**: over all ordered pairs of runs (i, j) and cases, how often run
  j's median lies inside run i's reported CI (the rerun test; nominal 95%);
* **median reported CI width** (``rel_ci``, half-width over the median);
* **A/A false alarms**: ``accelbench compare`` of consecutive runs (one run per
  side, default settings), the share of cases flagged slower or faster, and
  how many of those commands exit 1 with ``--fail-on-regression 25``;
* **25% slowdown detected** (default design): one slow run against each
  default run, the share of cases with the verdict "slower";
* **no drift**: coverage and width of the default runs' intervals with the drift left
  out (what rounds pooled over the run give alone);
* **median over cases of accelbench's median / blocked_autorange's median**;
* **wall time per run**, and the parent process's CPU time while its worker
  measured, as a share of that time (nothing of ours should compete).
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.utils.benchmark as tub

from accelbench import _core
from accelbench.analysis.compare import DEFAULT_THRESHOLD, case_rounds, compare_runs
from accelbench.analysis.drift import HOME_ENV, machine_drift
from accelbench.devices import resolve_device
from accelbench.results import RunDir, load, load_samples, read_meta
from accelbench.results.pooled import median_variances, rerun_half_width
from accelbench.workloads import get_family
from accelbench.workloads.catalog import filter_cases, load_suite

SLOWDOWN = 0.25
Key = tuple[str, str]  # (case, dtype)

SLOW_FAMILY = '''
"""The matmul family with a busy-wait after every launch (bench_fidelity's slow B)."""
import dataclasses, json, time
from pathlib import Path
from accelbench.workloads import get_family

DELAYS = json.loads((Path(__file__).parent / "delays.json").read_text())


class SlowMatmul:
    name = "slow_matmul"

    def __init__(self):
        self.inner = get_family("matmul")
        self.default_dtypes = self.inner.default_dtypes

    def expand(self, entry, where):
        return [dataclasses.replace(c, kernel=self.name) for c in self.inner.expand(entry, where)]

    def prepare(self, case, device):
        inner = self.inner.prepare(dataclasses.replace(case, kernel="matmul"), device)
        fn, seconds = inner.fn, DELAYS[case.case + "|" + case.dtype]

        def run():
            out = fn()
            end = time.perf_counter() + seconds
            while time.perf_counter() < end:
                pass
            return out

        return dataclasses.replace(inner, fn=run, clone=None)


FAMILY = SlowMatmul()
'''


def accelbench_run(out: Path, suite: str, kernels: str, *extra: str) -> tuple[Path, float]:
    """One ``accelbench run`` in a fresh process; its run directory and wall time."""
    before = set(out.iterdir()) if out.exists() else set()
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "accelbench", "run", "--device", "cpu", "--suite", suite,
           "--out", str(out), "-q", *extra]
    if kernels:
        cmd += ["--kernels", kernels]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode not in (0, 1):
        raise SystemExit(f"accelbench run failed ({proc.returncode}): {proc.stderr[-2000:]}")
    (path,) = set(out.iterdir()) - before
    return path, wall


def slow_suite(tmp: Path, cases: list[Any], medians: dict[Key, float]) -> Path:
    """A family file of the same cases under the slow family, and its delays."""
    (tmp / "slow_matmul.py").write_text(textwrap.dedent(SLOW_FAMILY))
    (tmp / "delays.json").write_text(json.dumps(
        {f"{c}|{d}": SLOWDOWN * m for (c, d), m in medians.items()}))
    lines = ['family = "slow_matmul:FAMILY"']
    for c in cases:
        p = dict(c.params)
        if c.case.startswith("square "):
            entry = f'name = "square"\nsize = [{p["M"]}]'
        else:
            base, _ = c.case.rsplit(" ", 1)
            entry = f'name = "{base}"\ntokens = [{p["M"]}]\nn = {p["N"]}\nk = {p["K"]}'
        lines.append(f'[[case]]\n{entry}\ndtypes = ["{c.dtype}"]')
    path = tmp / "slow.toml"
    path.write_text("\n".join(lines) + "\n")
    return path


def rows(path: Path) -> dict[Key, dict[str, Any]]:
    frame = load(path)
    ok = frame[frame["status"] == "ok"]
    return {(str(r["case"]), str(r["dtype"])): r for r in ok.to_dict("records")}


def coverage(runs: list[Path]) -> tuple[float, int, float]:
    """Share of (ordered pair, case) where run j's median is inside run i's CI; count;
    median rel_ci."""
    table = [rows(p) for p in runs]
    hits = total = 0
    for i, j in itertools.permutations(range(len(runs)), 2):
        for key, r in table[i].items():
            other = table[j].get(key)
            if other is None:
                continue
            total += 1
            hits += r["ci_low_s"] <= other["median_s"] <= r["ci_high_s"]
    widths = [r["rel_ci"] for t in table for r in t.values()]
    return hits / max(total, 1), total, float(np.median(widths))


def false_alarms(runs: list[Path]) -> tuple[float, int, int, int]:
    """A/A compare of consecutive runs: flagged share, cases, commands exiting 1 at 25%."""
    flagged = cases = exits = 0
    for a, b in itertools.pairwise(runs):
        result = compare_runs(a, b)
        cases += len(result.cases)
        flagged += sum(c.verdict != "no change" for c in result.cases)
        proc = subprocess.run([sys.executable, "-m", "accelbench", "compare", str(a), str(b),
                               "--fail-on-regression", "25"], capture_output=True, check=False)
        exits += proc.returncode == 1
    return flagged / max(cases, 1), cases, exits, len(runs) - 1


def variances(run: Path, drift: float | None = None) -> dict[Key, float]:
    """Each case's log-scale variance of its median as the run reports it (``drift``: the
    run's own drift when None)."""
    settings = read_meta(run)["settings"]
    runs = 0 if drift is not None else int(settings.get("drift_runs") or 0)
    if drift is None:
        drift = float(settings.get("drift_sd") or 0.0)
    rounds = case_rounds(load_samples(run))
    return {(k[1], k[2]): v for k, v in median_variances(rounds, drift, 0.95, runs).items()}


def coverage_without_drift(runs: list[Path]) -> tuple[float, float]:
    """Coverage and median width of the same runs' intervals with the drift left out."""
    table = [rows(p) for p in runs]
    half = [{k: rerun_half_width(v, 0.95) for k, v in variances(p, 0.0).items()} for p in runs]
    hits = total = 0
    for i, j in itertools.permutations(range(len(runs)), 2):
        for key, h in half[i].items():
            if key in table[i] and key in table[j]:
                total += 1
                hits += abs(math.log(table[j][key]["median_s"] / table[i][key]["median_s"])) <= h
    widths = [math.expm1(h) for t in half for h in t.values()]
    return hits / max(total, 1), float(np.median(widths))


def _usual(row: dict[str, Any] | None) -> float | None:
    value = (row or {}).get("usual_s")
    return float(value) if value is not None and value == value else None


def detection(runs: list[Path], slow: list[Path]) -> tuple[float, int, float]:
    """Every slow run against every default run: share of cases 'slower'; achieved slowdown.
    The comparison is compare's for one run per side (the slow family's cases have another
    kernel name, so compare_runs itself would not pair them)."""
    detected = total = 0
    ratios = []
    for a, b in itertools.product(runs, slow):
        ga = {(k[1], k[2]): v for k, v in case_rounds(load_samples(a)).items()}
        gb = {(k[1], k[2]): v for k, v in case_rounds(load_samples(b)).items()}
        va, vb = variances(a), variances(b)
        ua, ub = rows(a), rows(b)
        for key in ga.keys() & gb.keys() & va.keys() & vb.keys():
            c = _core.compare_log_var(ga[key], gb[key], va[key], vb[key],
                                      usual_a=_usual(ua.get(key)), usual_b=_usual(ub.get(key)),
                                      threshold=DEFAULT_THRESHOLD)
            total += 1
            detected += c.verdict == "slower"
            ratios.append(c.ratio)
    return detected / max(total, 1), total, float(np.median(ratios)) if ratios else float("nan")


def calibrate(suite: str, kernels: str, runs: int) -> tuple[float, float]:
    """``accelbench calibrate`` as a user runs it once per machine; drift (%) and wall time."""
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "accelbench", "calibrate", "--device", "cpu", "--suite", suite,
           "--kernels", kernels or "matmul", "--runs", str(runs)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise SystemExit(f"accelbench calibrate failed: {proc.stderr[-2000:]}")
    profile = machine_drift(resolve_device("cpu").slug)
    assert profile is not None
    return 100 * math.expm1(profile.drift_sd), time.perf_counter() - t0


def tub_medians(cases: list[Any]) -> dict[Key, float]:
    """``blocked_autorange`` median of each case, inputs built by the family."""
    device = resolve_device("cpu")
    out: dict[Key, float] = {}
    for c in cases:
        prepared = get_family(c.kernel).prepare(c, device)
        # Timer runs single-threaded unless told: give it the threads accelbench's worker uses.
        timer = tub.Timer(stmt="fn()", globals={"fn": prepared.fn},
                          num_threads=torch.get_num_threads())
        out[(c.case, c.dtype)] = float(timer.blocked_autorange(min_run_time=0.5).median)
        del prepared
    return out


def parent_share(runs: list[Path]) -> float:
    cpu = measured = 0.0
    for p in runs:
        for ev in RunDir.open(p).events():
            if ev.get("event") == "end":
                cpu += float(ev.get("parent_cpu_s") or 0.0)
                measured += float(ev.get("measured_s") or 0.0)
    return cpu / measured if measured else float("nan")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=6)
    parser.add_argument("--suite", default="quick")
    parser.add_argument("--kernels", default="matmul")
    parser.add_argument("--max-case-time", type=float, default=None,
                        help="override the suite's budget (for a quick trial of this script)")
    parser.add_argument("--keep", type=Path, default=None,
                        help="keep the run directories in this folder (default: a temporary one)")
    parser.add_argument("--rounds", type=int, default=None,
                        help="rounds of the default design (default: the suite's setting)")
    parser.add_argument("--calibrate-runs", type=int, default=5,
                        help="runs of accelbench calibrate before the designs (0: none; the "
                             "default design then has no drift)")
    args = parser.parse_args()
    budget = [] if args.max_case_time is None else ["--max-case-time", str(args.max_case_time)]
    if args.rounds is not None:
        budget += ["--rounds", str(args.rounds)]
    if args.runs < 2:
        parser.error("--runs must be at least 2")
    suite = load_suite(args.suite)
    cases = filter_cases(suite.cases, ["matmul"], None)
    # The slow run's family file has no [settings]: give it the suite's as flags.
    suite_flags = [x for k, v in suite.settings.items()
                   if not (k == "rounds" and args.rounds is not None)
                   for x in (f"--{k.replace('_', '-')}", str(v))]
    print(f"suite {args.suite} --kernels {args.kernels}: {args.runs} runs per design; "
          f"torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"{os.cpu_count()} cores")
    # "--rounds 1" comes last on its command line, so it wins over --rounds in ``budget``.
    designs = {"--rounds 1": ["--rounds", "1"], "default": []}
    runs: dict[str, list[Path]] = {d: [] for d in designs}
    walls: dict[str, list[float]] = {d: [] for d in designs}
    slow: list[Path] = []
    tub_runs: list[dict[Key, float]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name) if args.keep is None else args.keep
        tmp.mkdir(parents=True, exist_ok=True)
        # the drift profile goes to this trial's folder, never the user's
        os.environ[HOME_ENV] = str(tmp / "home")
        if args.calibrate_runs:
            drift, seconds = calibrate(args.suite, args.kernels, args.calibrate_runs)
            print(f"accelbench calibrate --runs {args.calibrate_runs}: drift {drift:.2f}% "
                  f"in {seconds:.0f} s (once per machine)", flush=True)
        slow_path: Path | None = None
        for i in range(args.runs):
            for name, extra in designs.items():
                path, wall = accelbench_run(tmp / name.replace(" ", ""), args.suite,
                                            args.kernels, *budget, *extra)
                runs[name].append(path)
                walls[name].append(wall)
            if slow_path is None:
                medians = {k: float(r["median_s"]) for k, r in rows(runs["default"][0]).items()}
                slow_path = slow_suite(tmp, [c for c in cases if (c.case, c.dtype) in medians],
                                       medians)
            slow.append(accelbench_run(tmp / "slow", str(slow_path), "", "--no-check",
                                       *suite_flags, *budget)[0])
            if args.kernels == "matmul":
                tub_runs.append(tub_medians(cases))
            print(f"  round of runs {i + 1}/{args.runs} done", flush=True)
        print(f"\n{'design':<12} {'coverage':>9} {'pairs':>6} {'CI width':>9} {'A/A flagged':>12} "
              f"{'exit 1 @25%':>12} {'wall/run':>9} {'vs tub':>7} {'parent CPU':>11}")
        for name in designs:
            cov, pairs, width = coverage(runs[name])
            fa, n_cases, exits, n_cmp = false_alarms(runs[name])
            ratio = "-"
            if tub_runs:
                ours = {}
                for key in tub_runs[0]:
                    vals = [r[key]["median_s"] for r in map(rows, runs[name]) if key in r]
                    if vals:
                        ours[key] = statistics.median(vals)
                ratio = f"{statistics.median(ours[k] / statistics.median(t[k] for t in tub_runs) for k in ours):.3f}"  # noqa: E501
            print(f"{name:<12} {100 * cov:>8.1f}% {pairs:>6} {100 * width:>8.2f}% "
                  f"{100 * fa:>7.1f}% /{n_cases:<3} {exits:>5} of {n_cmp:<4} "
                  f"{statistics.median(walls[name]):>8.1f}s {ratio:>7} "
                  f"{100 * parent_share(runs[name]):>10.3f}%")
        cov, width = coverage_without_drift(runs["default"])
        print(f"{'no drift':<12} {100 * cov:>8.1f}% {'':>6} {100 * width:>8.2f}%   "
              "(the default runs' intervals without the calibrated drift)")
        det, n_det, achieved = detection(runs["default"], slow)
        print(f"\n{100 * SLOWDOWN:.0f}% slowdown (default design, one run per side): detected in "
              f"{100 * det:.1f}% of {n_det} comparisons; achieved B/A ratio {achieved:.3f}")


if __name__ == "__main__":
    main()
