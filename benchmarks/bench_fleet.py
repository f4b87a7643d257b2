"""Detection and false-flag counts of ``accelbench fleet`` on local CPU worlds of 4 ranks.

Cases (default): runs the slow-rank world (``tests/fleet_slow.toml``: rank 2's
kernel lasts 30% longer, rank 1 computes one element wrong) and the healthy
world (``tests/fleet_healthy.toml``) ``--repeats`` times each through the
real CLI and counts: slow rank detected alone, wrong rank detected alone,
exit codes, and ranks flagged in healthy worlds (false flags).

Links (``--links``): ``--links-only`` worlds with one link made slow by a
delay on one rank's send path (``ACCELBENCH_LINK_DELAY``): within one node
(rank 2 -> 1) and across 4 single-rank "nodes" (ring link 2 -> 3, named by
bisection), and the same two worlds without a delay; counts the slow link
named alone, exit codes and links flagged in healthy worlds.

    python benchmarks/bench_fleet.py --repeats 10
    python benchmarks/bench_fleet.py --repeats 10 --links
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
#: 10 ms of delay per message against well under 1 ms: a link is flagged at twice its peers'
#: time (a shared CPU's scheduling noise is far above the 10% meant for device links)
LINK_ARGS = ["--device", "cpu", "--world-size", "4", "--links-only", "--link-size", "256KiB",
             "--link-samples", "7", "--link-threshold", "100", "-q"]
#: (name, environment, the link that must be flagged alone: (src, dst) or None)
LINK_WORLDS = (
    ("one node, slow 2>1", {"ACCELBENCH_LINK_DELAY": "2>1:0.01"}, (2, 1)),
    ("one node, healthy", {}, None),
    ("4 nodes, slow ring link 2>3", {"ACCELBENCH_LINK_DELAY": "2>3:0.01",
                                     "ACCELBENCH_FLEET_RANKS_PER_NODE": "1"}, (2, 3)),
    ("4 nodes, healthy", {"ACCELBENCH_FLEET_RANKS_PER_NODE": "1"}, None),
)


def fleet(args: list[str],
          extra_env: dict[str, str] | None = None) -> tuple[int, dict[str, object]]:
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ)
        env.pop("ACCELBENCH_LINK_DELAY", None)
        env.update(extra_env or {})
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH")) if p)
        proc = subprocess.run([sys.executable, "-m", "accelbench", "fleet", *args, "--out", tmp,
                               "--json", f"{tmp}/s.json"], env=env, capture_output=True,
                              text=True, timeout=300, check=False)
        return proc.returncode, json.loads(Path(tmp, "s.json").read_text())


def cases(repeats: int) -> bool:
    detected = exit1 = false_flags = healthy_exit0 = 0
    for i in range(repeats):
        code, summary = fleet(["--suite", str(TESTS / "fleet_slow.toml"), *ARGS])
        got = {(f["rank"], tuple(f["flags"])) for f in summary["flagged"]}  # type: ignore[attr-defined]
        alone = got == {(2, ("slow",)), (1, ("wrong",))}
        detected += alone
        exit1 += code == 1
        code, summary = fleet(["--suite", str(TESTS / "fleet_healthy.toml"), *ARGS])
        flagged = len(summary["flagged"])  # type: ignore[arg-type]
        false_flags += flagged
        healthy_exit0 += code == 0
        print(f"repeat {i + 1}: slow world {'ok' if alone else got}, healthy world "
              f"{flagged} flagged, exit {code}", flush=True)
    print(f"slow-rank world: slow rank 2 and wrong rank 1 flagged alone in {detected}/{repeats}, "
          f"exit 1 in {exit1}/{repeats}")
    print(f"healthy world: {false_flags} false flags in {repeats} worlds of 4 ranks, exit 0 in "
          f"{healthy_exit0}/{repeats}")
    return detected == repeats and false_flags == 0


def links(repeats: int) -> bool:
    good = True
    for name, env, want in LINK_WORLDS:
        right = codes = flagged_total = 0
        for _ in range(repeats):
            code, summary = fleet(LINK_ARGS, env)
            flagged = summary["links"]["flagged"]  # type: ignore[index]
            got = [(f["src"], f["dst"]) for f in flagged]
            right += got == ([want] if want else [])
            codes += code == (1 if want else 0)
            flagged_total += len(flagged)
        print(f"links, {name}: {'slow link named alone' if want else 'no link flagged'} in "
              f"{right}/{repeats}, expected exit code in {codes}/{repeats}, "
              f"{flagged_total} links flagged in all", flush=True)
        good = good and right == repeats
    return good


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--links", action="store_true", help="the link worlds instead")
    args = parser.parse_args()
    ok = links(args.repeats) if args.links else cases(args.repeats)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
