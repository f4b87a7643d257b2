"""The operator sweep against a bare in-process loop over the same samples.

Run: ``python benchmarks/bench_ops.py [--dtypes fp32,bf16,fp16] [--ops GLOB,...]``.

1. **Bare loop** (the baseline, in this process): for every OpInfo operator
   and dtype, build its sample inputs on the CPU, run the operator once on each
   and once more on the float64 copy of the inputs (its reference); nothing
   else: no comparison, no second run, no isolation, no recording. Failures
   are caught and skipped. Timed per dtype, after importing op_db (not timed).
2. ``accelbench ops --set all`` over the same dtypes (agreement with float64,
   determinism, fingerprints, crash isolation in a worker, the run directory),
   as a subprocess, whole wall time including its start-up.
3. ``accelbench ops --set llm`` over the same dtypes.

Prints both times and the ratio (sweep / bare loop). The targets: the full
sweep in <= 2 minutes and <= 5x the bare loop; the llm set in <= 30 s.
"""

from __future__ import annotations

import argparse
import fnmatch
import subprocess
import sys
import tempfile
import time
from typing import Any

import torch


def _moved(sample: Any, cast: torch.dtype | None, swept: torch.dtype) -> Any:
    def move(t: Any) -> Any:
        if isinstance(t, torch.Tensor):
            return t.to(cast) if cast is not None and t.dtype == swept else t.clone()
        return t

    return sample.transform(move)


def bare_loop(dtype: torch.dtype, globs: list[str] | None) -> tuple[float, int, int]:
    """Seconds, operators that ran, samples that ran: one call per sample plus its reference."""
    from torch.testing._internal.common_methods_invocations import op_db

    ops = {o.full_name: o for o in reversed(op_db)}
    ran_ops = ran = 0
    started = time.perf_counter()
    for name in sorted(ops):
        if globs and not any(fnmatch.fnmatchcase(name, g) for g in globs):
            continue
        info = ops[name]
        if dtype not in info.supported_dtypes("cpu") | info.supported_dtypes("cuda"):
            continue  # the sweep's cases: dtypes OpInfo declares for the CPU or CUDA
        try:
            samples = list(info.sample_inputs("cpu", dtype))
        except Exception:
            continue
        ok = False
        for s in samples:
            try:
                torch.manual_seed(0)
                m = _moved(s, None, dtype)
                info.op(m.input, *m.args, **m.kwargs)
                r = _moved(s, torch.float64, dtype)
                info.op(r.input, *r.args, **r.kwargs)
                ran += 1
                ok = True
            except Exception:
                continue
        ran_ops += ok
    return time.perf_counter() - started, ran_ops, ran


def sweep(args: list[str]) -> float:
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "accelbench", "ops", "--device", "cpu",
                               "--out", out, "-q", *args], capture_output=True, text=True,
                              check=False)
        wall = time.perf_counter() - started
    if proc.returncode not in (0, 1):
        sys.exit(f"accelbench ops failed ({proc.returncode}): {proc.stderr[-2000:]}")
    print("   " + "\n   ".join(proc.stdout.strip().splitlines()))
    return wall


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dtypes", default="fp32,bf16,fp16")
    parser.add_argument("--ops", help="only operators matching these globs (a trial run)")
    args = parser.parse_args()
    names = {"fp64": torch.float64, "fp32": torch.float32, "bf16": torch.bfloat16,
             "fp16": torch.float16}
    dtypes = [d.strip() for d in args.dtypes.split(",")]
    globs = args.ops.split(",") if args.ops else None
    import warnings

    warnings.simplefilter("ignore")
    from torch.testing._internal.common_methods_invocations import op_db  # noqa: F401

    bare = 0.0
    for d in dtypes:
        seconds, n_ops, n_samples = bare_loop(names[d], globs)
        bare += seconds
        print(f"bare loop {d}: {seconds:6.1f} s ({n_ops} operators, {n_samples} samples)")
    select = ["--ops", args.ops] if args.ops else []
    full = sweep(["--dtypes", args.dtypes, *select])
    print(f"bare loop, all dtypes: {bare:6.1f} s")
    print(f"accelbench ops --set all: {full:6.1f} s  ratio {full / bare:.2f}x the bare loop "
          "(targets: <= 120 s, <= 5x)")
    if not args.ops:
        llm = sweep(["--set", "llm", "--dtypes", args.dtypes])
        print(f"accelbench ops --set llm: {llm:6.1f} s  (target: <= 30 s)")


if __name__ == "__main__":
    main()
