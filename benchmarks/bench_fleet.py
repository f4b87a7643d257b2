"""Detection and false-flag counts of ``accelbench fleet`` on local CPU worlds of 4 ranks.

Runs the slow-rank world (``tests/fleet_slow.toml``: rank 2's kernel lasts
30% longer, rank 1 computes one element wrong) and the healthy world
(``tests/fleet_healthy.toml``) ``--repeats`` times each through the real
CLI and counts: slow rank detected alone, wrong rank detected alone, exit
codes, and ranks flagged in healthy worlds (false flags).

    python benchmarks/bench_fleet.py --repeats 10
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
ARGS = ["--device", "cpu", "--world-size", "4", "--warmup", "0.05", "--max-case-time", "0.3",
        "--min-samples", "10", "-q"]


def fleet(suite: str) -> tuple[int, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
        proc = subprocess.run([sys.executable, "-m", "accelbench", "fleet", "--suite",
                               str(TESTS / suite), *ARGS, "--out", tmp, "--json",
                               f"{tmp}/s.json"], env=env, capture_output=True, text=True,
                              timeout=300, check=False)
        return proc.returncode, json.loads(Path(tmp, "s.json").read_text())


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    args = parser.parse_args()
    detected = exit1 = false_flags = healthy_exit0 = 0
    for i in range(args.repeats):
        code, summary = fleet("fleet_slow.toml")
        got = {(f["rank"], tuple(f["flags"])) for f in summary["flagged"]}  # type: ignore[attr-defined]
        alone = got == {(2, ("slow",)), (1, ("wrong",))}
        detected += alone
        exit1 += code == 1
        code, summary = fleet("fleet_healthy.toml")
        flagged = len(summary["flagged"])  # type: ignore[arg-type]
        false_flags += flagged
        healthy_exit0 += code == 0
        print(f"repeat {i + 1}: slow world {'ok' if alone else got}, healthy world "
              f"{flagged} flagged, exit {code}", flush=True)
    n = args.repeats
    print(f"slow-rank world: slow rank 2 and wrong rank 1 flagged alone in {detected}/{n}, "
          f"exit 1 in {exit1}/{n}")
    print(f"healthy world: {false_flags} false flags in {n} worlds of 4 ranks, exit 0 in "
          f"{healthy_exit0}/{n}")
    return 0 if detected == n and false_flags == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
