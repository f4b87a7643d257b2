"""What every rank of a fleet world does for one case: start together, measure, report.

Each case: a barrier on the control group (so every rank starts the case at
the same time and shared-resource effects are those of a real job), then
:func:`accelbench.measure.case.measure_case` on this rank's own device,
then a *monitored* barrier (gloo): a rank that hangs or died never reaches
it, and rank 0 learns which ranks are missing by name instead of waiting
forever in a gather. Then every rank's report (row, samples, fingerprint,
host) is gathered on rank 0.

**Fault injection (tests only).** ``ACCELBENCH_FLEET_FAULT=ACTION:RANK``
makes ``RANK`` misbehave after measuring each case: ``hang`` (sleep past
the monitored barrier's timeout) or ``kill`` (SIGKILL itself).
"""

from __future__ import annotations

import datetime
import os
import re
import signal
import socket
import time
from typing import Any

import torch.distributed as dist

from accelbench.distributed.rank import RankContext
from accelbench.distributed.world import case_from_dict
from accelbench.fleet.linkplan import LinkOptions
from accelbench.fleet.links import run_links
from accelbench.kinds import Status
from accelbench.measure.case import measure_case
from accelbench.measure.core import Settings
from accelbench.workloads.base import Case

__all__ = ["FAULT_ENV", "broadcast_command", "execute", "fleet_case", "follow",
           "straggler_wait_s", "world_hosts"]

FAULT_ENV = "ACCELBENCH_FLEET_FAULT"
WAIT_ENV = "ACCELBENCH_FLEET_WAIT"


def straggler_wait_s(settings: Settings) -> float:
    """How long rank 0 waits for the other ranks to finish a case after it did."""
    override = os.environ.get(WAIT_ENV)
    if override:
        return float(override)
    return 10.0 + 2.0 * (settings.warmup + max(settings.max_case_time, settings.sustain))


def _inject(rank: int) -> None:
    spec = os.environ.get(FAULT_ENV, "")
    if not spec:
        return
    action, _, target = spec.partition(":")
    if int(target) != rank:
        return
    if action == "kill":
        os.kill(os.getpid(), signal.SIGKILL)
    elif action == "hang":
        time.sleep(3600)


def _report(ctx: RankContext, case: Case, settings: Settings, run_id: str) -> dict[str, Any]:
    outcome = measure_case(case, ctx.device, settings, run_id)
    fp = outcome.samples.get("fingerprint") or {}
    return {
        "rank": ctx.rank, "host": socket.gethostname(), "device": ctx.device.spec,
        "row": outcome.row, "seconds": list(outcome.samples.get("seconds", [])),
        "iters": outcome.samples.get("iters"), "fingerprint": fp.get("hash"),
        "values": fp.get("values", []),
    }


def _missing_ranks(message: str) -> list[int]:
    """The ranks a failed monitored barrier names ("Ranks 2, 3 failed to pass ...")."""
    found = re.search(r"Ranks? ([\d, ]+?) failed to pass", message)
    return [int(n) for n in re.findall(r"\d+", found.group(1))] if found else []


def world_hosts(ctx: RankContext) -> list[str]:
    """Every rank's host name, on every rank (once, when the world is up)."""
    hosts: list[Any] = [None] * ctx.world_size
    dist.all_gather_object(hosts, socket.gethostname(), group=ctx.ctrl)
    return [str(h) for h in hosts]


def fleet_case(ctx: RankContext, case: Case, settings: Settings, run_id: str,
               hosts: list[str]) -> list[dict[str, Any]] | dict[str, Any] | None:
    """Run ``case`` on this rank; rank 0 returns every rank's report (or a fatal payload)."""
    dist.barrier(group=ctx.ctrl)  # start together
    report = _report(ctx, case, settings, run_id)
    _inject(ctx.rank)
    wait = straggler_wait_s(settings)
    try:
        dist.monitored_barrier(group=ctx.ctrl, timeout=datetime.timedelta(seconds=wait),
                               wait_all_ranks=True)
    except RuntimeError as exc:
        if ctx.rank != 0:
            raise
        ranks = _missing_ranks(str(exc))
        named = ", ".join(f"{r} ({hosts[r]})" for r in ranks) or "some ranks"
        return {"status": Status.TIMEOUT, "fatal": True, "world_size": ctx.world_size,
                "ranks": ranks, "hosts": {r: hosts[r] for r in ranks},
                "error": f"rank {named} did not finish case {case.key!r} within {wait:.0f} s "
                         f"of rank 0 (hung or died); ending the world"}
    gathered: list[Any] = [None] * ctx.world_size if ctx.rank == 0 else []
    dist.gather_object(report, gathered if ctx.rank == 0 else None, dst=0, group=ctx.ctrl)
    return gathered if ctx.rank == 0 else None


def broadcast_command(ctx: RankContext, command: dict[str, Any] | None) -> dict[str, Any] | None:
    """Rank 0 sends the next command to every rank: ``{"case": ...}``, ``{"links": ...}``
    or None (stop); every rank returns it."""
    box: list[Any] = [command]
    dist.broadcast_object_list(box, src=0, group=ctx.ctrl)
    return None if box[0] is None else dict(box[0])


def execute(ctx: RankContext, command: dict[str, Any], settings: Settings, run_id: str,
            hosts: list[str]) -> Any:
    """Carry out a command on this rank; rank 0 gets the reports (a case) or the link rows."""
    if "links" in command:
        return run_links(ctx, LinkOptions(**command["links"]))
    return fleet_case(ctx, case_from_dict(command["case"]), settings, run_id, hosts)


def follow(ctx: RankContext, settings: Settings, run_id: str, hosts: list[str]) -> None:
    """A rank other than 0: carry out what rank 0 broadcasts until it says stop."""
    while (command := broadcast_command(ctx, None)) is not None:
        execute(ctx, command, settings, run_id, hosts)
