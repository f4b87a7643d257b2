"""How often does ``accelbench compare`` cry wolf, and how often does it catch a real 5%?
With one run per side, and with several (the two-level bootstrap).

Run: ``python benchmarks/bench_compare.py [--runs 21] [--group 3] [--threads N]
[--device cpu|cuda]``.

Method. A small CPU suite (six matmul cases from 9 µs to ~1 ms) is run
``--runs`` times as A and as many times as B, interleaved (A1 B1 A2 B2 ...)
so a slow change of the machine's load hits both equally. In B every kernel
launch is followed by a delay of 5% of that case's median in the first A run
(a host busy-wait on the CPU; a device spin kernel, ``torch.cuda._sleep``,
calibrated in cycles per second, on CUDA): a real, measured slowdown, not a
relabelling. The same pool of runs is then compared two ways:

* **1 run per side**: A/A pairs (A_i, A_i+1), ``runs - 1`` pairings; A/B pairs
  (A_i, B_i), ``runs`` pairings;
* **k runs per side** (``--group``, default 3): A/A pairs of the alternate
  runs of a window of 2k (A_i, A_i+2, ... vs A_i+1, A_i+3, ...), ``runs - 2k
  + 1`` pairings; A/B pairs (A_i..A_i+k-1 vs B_i..B_i+k-1), ``runs - k + 1``
  pairings. Both sides of every pairing are interleaved in time, as a user
  should interleave the runs of A and B: a slow drift of the machine then
  reaches both sides alike, whereas k runs of A followed by k runs of B would
  see the drift as a difference no bootstrap can tell from a real one. With
  k = 1 these are the one-run pairings. The windows slide by one run, so
  neighbouring pairings share runs: the rates are unbiased but less precise
  than their count suggests.

For each, x 6 cases:

* **A/A false-positive rate**: a case counts when the verdict is anything
  but "no change";
* **detection rate**: on the A/B pairs, a case counts when the verdict is
  "slower". A second figure scales the samples of the A/A pairs' second side
  by 1.05 (the A/A noise plus an exact 5% shift);

for a grid of noise thresholds. Each comparison is one native call
(``compare_samples`` / ``compare_groups``) at the default threshold; the
verdict at the other thresholds follows from its interval and p-value by the
documented rule, which is checked against the native verdict every time.
The chosen threshold is the smallest with an A/A false-positive rate <= 5%
and a detection rate >= 90% on the real delay (or, if none reaches both,
the smallest meeting the false-positive target), for each mode. The
achieved slowdown of B (median over runs of the B/A ratio of medians) is
printed next to the target, so the injected delay is checked, not assumed.
"""

from __future__ import annotations

import argparse
import math
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch

from accelbench import _core
from accelbench.analysis.compare import DEFAULT_ALPHA, DEFAULT_THRESHOLD, case_samples
from accelbench.devices import Device, resolve_device
from accelbench.measure import case as measured_case
from accelbench.measure.core import Settings
from accelbench.results import RunDir, load_samples
from accelbench.runner.suite import Runner
from accelbench.workloads import get_family
from accelbench.workloads.base import Case, Prepared
from accelbench.workloads.catalog import load_suite

SUITE = """
family = "matmul"
[[case]]
name = "square"
size = [64, 128, 256, 384]
dtypes = ["fp32"]
[[case]]
name = "decode"
m = [1]
n = 4096
k = 1024
dtypes = ["fp32"]
[[case]]
name = "square"
size = [192]
dtypes = ["bf16"]
"""

#: On an accelerator the small CPU shapes are launch-bound: use GPU-sized ones.
SUITE_ACCEL = """
family = "matmul"
[[case]]
name = "square"
size = [512, 1024, 2048, 4096]
dtypes = ["fp32"]
[[case]]
name = "decode"
m = [1]
n = 8192
k = 8192
dtypes = ["bf16"]
[[case]]
name = "square"
size = [4096]
dtypes = ["bf16"]
"""

THRESHOLDS = (0.0, 0.01, 0.02, 0.03, 0.05, 0.10, 0.15, 0.20, 0.30, 0.50)
SLOWDOWN = 0.05
FP_TARGET = 0.05
DETECT_TARGET = 0.90

Key = tuple[str, str, str]


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def device_delay(device: Device) -> Callable[[float], None]:
    """A delay that lands where the kernel runs: host busy-wait on the CPU, a device
    spin kernel (``torch.cuda._sleep``, calibrated in cycles per second) on CUDA."""
    if device.backend != "cuda":
        return spin
    torch.cuda._sleep(1_000_000)  # warm
    start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
    cycles = 50_000_000
    start.record()
    torch.cuda._sleep(cycles)
    end.record()
    end.synchronize()
    per_s = cycles / (start.elapsed_time(end) * 1e-3)
    return lambda seconds: torch.cuda._sleep(max(1, int(seconds * per_s)))


class DelayedFamily:
    """Wraps a family so that every launch is followed by a fixed busy-wait."""

    def __init__(self, delays: dict[str, float], delay: Callable[[float], None]) -> None:
        self.delays = delays
        self.delay = delay

    def prepare(self, case: Case, device: Any) -> Prepared:
        inner = get_family(case.kernel).prepare(case, device)
        seconds, delay = self.delays[case.key], self.delay
        fn = inner.fn

        def run() -> object:
            out = fn()
            delay(seconds)
            return out

        return Prepared(fn=run, flops=inner.flops, bytes=inner.bytes, output=inner.output,
                        reference=inner.reference)


def one_run(out: Path, cases: list[Case], settings: Settings, device: Device,
            family: Callable[[str], Any] | None = None) -> Path:
    run = RunDir.create(out, device.slug)
    run.write_meta({"schema_version": 1, "settings": settings.as_dict()})
    original = measured_case.get_family
    if family is not None:
        measured_case.get_family = family  # type: ignore[assignment]
    try:
        Runner(device, settings, run).run(cases)
    finally:
        measured_case.get_family = original
    run.finalize()
    return run.path


Runs = list[dict[Key, np.ndarray]]


def verdict_at(ci_low: float, ci_high: float, p: float, t: float) -> str:
    """The verdict rule of ``accelbench.analysis.compare`` at threshold ``t``."""
    if p < DEFAULT_ALPHA and ci_low > 1 + t:
        return "slower"
    if p < DEFAULT_ALPHA and ci_high < 1 / (1 + t):
        return "faster"
    return "no change"


def verdicts(pairs: list[tuple[Runs, Runs]], resamples: int,
             scale: float = 1.0) -> dict[float, list[str]]:
    """Verdicts at every threshold for each (A group, B group) pair and case."""
    out: dict[float, list[str]] = {t: [] for t in THRESHOLDS}
    for group_a, group_b in pairs:
        for key in group_a[0]:
            xa = [run[key] for run in group_a]
            xb = [run[key] * scale for run in group_b]
            if len(xa) == len(xb) == 1:
                c = _core.compare_samples(xa[0], xb[0], threshold=DEFAULT_THRESHOLD,
                                          alpha=DEFAULT_ALPHA, resamples=resamples, seed=0)
            else:
                c = _core.compare_groups(xa, xb, threshold=DEFAULT_THRESHOLD,
                                         alpha=DEFAULT_ALPHA, resamples=resamples, seed=0)
            assert verdict_at(c.ci_low, c.ci_high, c.p_value, DEFAULT_THRESHOLD) == c.verdict
            for t in THRESHOLDS:
                out[t].append(verdict_at(c.ci_low, c.ci_high, c.p_value, t))
    return out


def rates(runs_a: Runs, runs_b: Runs, k: int, resamples: int
          ) -> tuple[list[tuple[float, float, float, float]], int, int]:
    """Per threshold: (t, A/A flagged, detected real +5%, detected x1.05), with k runs per
    side; and the numbers of A/A and A/B comparisons."""
    n = len(runs_a)
    aa_pairs = [(runs_a[i:i + 2 * k:2], runs_a[i + 1:i + 2 * k:2]) for i in range(n - 2 * k + 1)]
    ab_pairs = [(runs_a[i:i + k], runs_b[i:i + k]) for i in range(n - k + 1)]
    aa = verdicts(aa_pairs, resamples)
    scaled = verdicts(aa_pairs, resamples, 1 + SLOWDOWN)
    real = verdicts(ab_pairs, resamples)
    rows = []
    for t in THRESHOLDS:
        fp = sum(v != "no change" for v in aa[t]) / len(aa[t])
        det = sum(v == "slower" for v in real[t]) / len(real[t])
        det_s = sum(v == "slower" for v in scaled[t]) / len(scaled[t])
        rows.append((t, fp, det, det_s))
    return rows, len(aa[0.0]), len(real[0.0])


def choose(rows: list[tuple[float, float, float, float]]) -> tuple[float, str]:
    both = [t for t, fp, det, _ in rows if fp <= FP_TARGET and det >= DETECT_TARGET]
    fp_ok = [t for t, fp, _, _ in rows if fp <= FP_TARGET]
    if both:
        return both[0], (f"smallest threshold with A/A false positives <= "
                         f"{100 * FP_TARGET:.0f}% and detection >= {100 * DETECT_TARGET:.0f}%")
    if fp_ok:
        return fp_ok[0], (f"no threshold reaches both targets; smallest with A/A false "
                          f"positives <= {100 * FP_TARGET:.0f}%")
    return THRESHOLDS[-1], "no threshold meets the false-positive target"


def measure(args: argparse.Namespace, runs: int) -> tuple[Runs, Runs]:
    """``runs`` interleaved runs of A and of B (B with the injected delay)."""
    with tempfile.TemporaryDirectory() as tmp:
        suite_path = Path(tmp) / "suite.toml"
        device = resolve_device(args.device)
        suite_path.write_text(SUITE if device.backend == "cpu" else SUITE_ACCEL)
        cases = load_suite(str(suite_path)).cases
        # In-process (no worker isolation): B's delay wraps the family in this
        # process, which a worker process would not see. No numerical checks:
        # only the timings matter here.
        settings = Settings(warmup=0.05, max_case_time=args.max_case_time, min_samples=10,
                            isolation=False, check=False)
        print(f"suite: {len(cases)} cases ({', '.join(c.case + ' ' + c.dtype for c in cases)}), "
              f"{runs} runs of A and of B, {args.max_case_time} s per case, "
              f"device {device.name} ({device.spec}), torch threads {torch.get_num_threads()}")
        t0 = time.perf_counter()
        runs_a: list[dict[Key, np.ndarray]] = []
        runs_b: list[dict[Key, np.ndarray]] = []
        delays: dict[str, float] = {}
        delay = device_delay(device)
        for i in range(runs):
            path = one_run(Path(tmp) / "a", cases, settings, device)
            runs_a.append(case_samples(load_samples(path)))
            if i == 0:
                for c in cases:
                    delays[c.key] = SLOWDOWN * float(np.median(runs_a[0][_key(c)]))
            wrapped = DelayedFamily(delays, delay)
            path = one_run(Path(tmp) / "b", cases, settings, device, lambda _name, w=wrapped: w)
            runs_b.append(case_samples(load_samples(path)))
        print(f"measured {2 * runs} runs in {time.perf_counter() - t0:.0f} s")
    return runs_a, runs_b


def save_pool(path: Path, runs_a: Runs, runs_b: Runs) -> None:
    """The samples of every run, keyed ``side/run/kernel|case|dtype``."""
    arrays = {f"{side}/{i}/{'|'.join(k)}": x for side, pool in (("a", runs_a), ("b", runs_b))
              for i, run in enumerate(pool) for k, x in run.items()}
    np.savez_compressed(path, **arrays)  # type: ignore[arg-type]


def load_pool(path: Path) -> tuple[Runs, Runs]:
    pools: dict[str, dict[int, dict[Key, np.ndarray]]] = {"a": {}, "b": {}}
    with np.load(path) as data:
        for name in data.files:
            side, i, key = name.split("/", 2)
            kernel, case, dtype = key.split("|")
            pools[side].setdefault(int(i), {})[(kernel, case, dtype)] = data[name]
    return ([pools["a"][i] for i in sorted(pools["a"])],
            [pools["b"][i] for i in sorted(pools["b"])])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21,
                        help="runs of A and of B (>= 2 x group)")
    parser.add_argument("--group", type=int, default=3,
                        help="runs per side in the multi-run comparison (>= 2)")
    parser.add_argument("--max-case-time", type=float, default=0.25)
    parser.add_argument("--resamples", type=int, default=2000)
    parser.add_argument("--quick", action="store_true", help="2 x group runs, a smoke test")
    parser.add_argument("--save", type=Path, help="save the runs' samples (.npz)")
    parser.add_argument("--load", type=Path, help="re-analyse runs saved with --save")
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    parser.add_argument("--threads", type=int, default=0,
                        help="torch threads (0: torch's default, all cores)")
    args = parser.parse_args()
    if args.threads > 0:
        torch.set_num_threads(args.threads)
    group = max(2, args.group)
    runs = 2 * group if args.quick else max(2 * group, args.runs)

    if args.load is not None:
        runs_a, runs_b = load_pool(args.load)
        runs = len(runs_a)
        print(f"loaded {runs} runs of A and of B from {args.load} (measured earlier: the "
              f"figures below re-analyse them)")
    else:
        runs_a, runs_b = measure(args, runs)
        if args.save is not None:
            save_pool(args.save, runs_a, runs_b)
            print(f"saved the runs' samples to {args.save}")
    t1 = time.perf_counter()

    achieved = {k: statistics.median(float(np.median(b[k]) / np.median(a[k]))
                                     for a, b in zip(runs_a, runs_b, strict=True))
                for k in runs_a[0]}
    aa_ratio = {k: [float(np.median(runs_a[i + 1][k]) / np.median(runs_a[i][k]))
                    for i in range(runs - 1)] for k in runs_a[0]}
    print("\nper case: A/A ratio of medians across consecutive runs (median |r-1|, max |r-1|), "
          "the achieved B/A slowdown, the between-run SD of the log run medians of A (robust: "
          "1.4826 MAD, a few runs of a shared machine are 2x slow), and the runs "
          "per side a 5% change needs at that SD (two-sided 5%, power 90%, normal approximation: "
          "2 (z_.975 + z_.9)^2 SD^2 / ln(1.05)^2)")
    needed = []
    for k in runs_a[0]:
        dev = [abs(r - 1) for r in aa_ratio[k]]
        logs = np.log([np.median(run[k]) for run in runs_a])
        sd = 1.4826 * float(np.median(np.abs(logs - np.median(logs))))
        n_runs = math.ceil(2 * (1.959964 + 1.281552) ** 2 * sd ** 2 / math.log1p(SLOWDOWN) ** 2)
        needed.append(n_runs)
        print(f"  {k[1] + ' ' + k[2]:<22} median {np.median(runs_a[0][k]) * 1e6:9.1f} µs  "
              f"A/A |r-1| median {100 * statistics.median(dev):5.2f}%  max {100 * max(dev):5.2f}%"
              f"   B/A {achieved[k]:.4f}   SD {100 * sd:5.2f}%  runs for 5%: {n_runs}")
    print(f"  median over cases: {statistics.median(needed):g} runs per side for 90% power on a "
          f"5% change")

    one, n_aa1, n_ab1 = rates(runs_a, runs_b, 1, args.resamples)
    multi, n_aak, n_abk = rates(runs_a, runs_b, group, args.resamples)
    print(f"\n1 run per side: {n_aa1} A/A and {n_ab1} A/B comparisons; {group} runs per side: "
          f"{n_aak} A/A and {n_abk} A/B comparisons ({len(runs_a[0])} cases each pairing; "
          f"compared in {time.perf_counter() - t1:.0f} s)")
    print(f"{'':>9}  {'--------- 1 run per side ---------':>36}  "
          f"{f'--------- {group} runs per side ---------':>36}")
    print(f"{'threshold':>9}  {'A/A flagged':>11} {'real +5%':>11} {'x1.05':>11}  "
          f"{'A/A flagged':>11} {'real +5%':>11} {'x1.05':>11}")
    for (t, fp, det, det_s), (_, fpk, detk, det_sk) in zip(one, multi, strict=True):
        print(f"{100 * t:8.1f}%  {100 * fp:10.1f}% {100 * det:10.1f}% {100 * det_s:10.1f}%  "
              f"{100 * fpk:10.1f}% {100 * detk:10.1f}% {100 * det_sk:10.1f}%")
    at = THRESHOLDS.index(DEFAULT_THRESHOLD)
    print(f"\nat the default threshold {100 * DEFAULT_THRESHOLD:g}%: A/A flagged "
          f"{100 * one[at][1]:.1f}% -> {100 * multi[at][1]:.1f}%, real +5% detected "
          f"{100 * one[at][2]:.1f}% -> {100 * multi[at][2]:.1f}% (1 -> {group} runs per side; "
          f"targets <= {100 * FP_TARGET:.0f}% and >= {100 * DETECT_TARGET:.0f}%)")
    for label, rows in (("1 run per side", one), (f"{group} runs per side", multi)):
        chosen, why = choose(rows)
        print(f"chosen threshold, {label}: {100 * chosen:g}% ({why})")
    print(f"default in accelbench.analysis.compare: {100 * DEFAULT_THRESHOLD:g}%")


def _key(c: Case) -> Key:
    return (c.kernel, c.case, c.dtype)


if __name__ == "__main__":
    main()
