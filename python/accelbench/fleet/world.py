"""Running fleet cases in a world, and the rows made of every rank's reports.

In a local world (``accelbench fleet --world-size N``) this process is the
parent: it spawns N rank processes (:class:`~accelbench.distributed.world.
LocalWorld` running ``python -m accelbench.fleet``), sends each case to
rank 0 and watches all of them; a rank that dies is named from its exit
status, one that hangs from rank 0's monitored barrier, and the world is
killed either way. In a torchrun/Slurm world this process is one of the
ranks: rank 0 broadcasts each case, every rank runs it
(:func:`~accelbench.fleet.rank.fleet_case`), rank 0 judges.
"""

from __future__ import annotations

import os
import re
import socket
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import torch.distributed as dist

from accelbench.devices import Device
from accelbench.distributed.lead import init_rank
from accelbench.distributed.world import (
    LocalWorld,
    WorldEnv,
    case_dict,
    case_time_limit,
    unsupported_world,
)
from accelbench.fleet.__main__ import RUN_ID_ENV, SUITE_ENV
from accelbench.fleet.linkplan import LinkOptions, step_count
from accelbench.fleet.rank import (
    broadcast_command,
    execute,
    follow,
    straggler_wait_s,
    world_hosts,
)
from accelbench.fleet.verdict import CaseVerdict, RankResult, judge_case
from accelbench.measure.core import Settings
from accelbench.workloads.base import Case

__all__ = ["FleetOptions", "failure_ranks", "fleet_rows", "link_time_limit", "run_joined",
           "run_local"]

#: Called with each case and rank 0's payload: {"reports": [...]} or a fatal failure;
#: after the cases, with None and {"links": [rows]} when links are measured.
OnCase = Callable[[Case | None, Mapping[str, Any]], None]


@dataclass(frozen=True)
class FleetOptions:
    """How ranks are judged."""

    threshold: float = 0.05  # flag when the whole CI is this much slower than the world
    resamples: int = 2000  # bootstrap resamples per rank and case
    sustained: bool = False  # samples are time windows (--sustain)
    links: LinkOptions | None = None  # measure the links after the cases (--links)


def link_time_limit(world_size: int, opts: LinkOptions) -> float:
    """Seconds the link phase may take before the world is declared hung: generous.

    The most steps a world of this size can need (all ranks on one node, or
    every rank a node of its own), each allowed 0.5 s plus its messages at
    0.1 GB/s. ``ACCELBENCH_CASE_TIMEOUT`` overrides it.
    """
    override = os.environ.get("ACCELBENCH_CASE_TIMEOUT")
    if override:
        return float(override)
    steps = max(step_count([list(range(world_size))], opts),
                step_count([[r] for r in range(world_size)], opts))
    return 60.0 + steps * (0.5 + (opts.messages + 1) * opts.size / 1e8)


def run_local(cases: Iterable[Case], device: Device, settings: Settings, run_id: str,
              world_size: int, suite: str, on_case: OnCase,
              links: LinkOptions | None = None) -> str | None:
    """Run ``cases`` (then the links) in a local world of ``world_size`` ranks; the fatal
    error, if any."""
    reason = (unsupported_world(device, world_size, control_only=True) if world_size > 1
              else None)
    if reason:
        return reason
    world = LocalWorld(world_size, device.spec, settings, module="accelbench.fleet",
                       extra_env={SUITE_ENV: suite, RUN_ID_ENV: run_id})
    # rank 0 names a straggler after straggler_wait_s; the parent's own limit comes later
    world.limit = case_time_limit(settings) + straggler_wait_s(settings)
    try:
        failed = world.start()
        if failed:
            return str(failed.get("error"))
        for case in cases:
            payload = world.run(case)
            on_case(case, payload)
            if "reports" not in payload:
                return str(payload.get("error"))
        if links is not None:
            payload = world.request({"links": asdict(links)},
                                    link_time_limit(world_size, links))
            on_case(None, payload)
            if "links" not in payload:
                return str(payload.get("error"))
        return None
    finally:
        world.close()


def run_joined(env: WorldEnv, cases: Sequence[Case], device: Device, settings: Settings,
               run_id: str, on_case: OnCase, links: LinkOptions | None = None) -> str | None:
    """This process is one rank of a torchrun/Slurm world; rank 0 calls ``on_case``."""
    limit = case_time_limit(settings) + straggler_wait_s(settings)
    if links is not None:
        limit = max(limit, link_time_limit(env.world_size, links))
    ctx = init_rank(env, device.spec, limit, control_only=True)
    hosts = world_hosts(ctx)
    if env.rank != 0:
        follow(ctx, settings, run_id, hosts)
        dist.destroy_process_group()
        return None
    commands = [{"case": case_dict(c)} for c in cases]
    if links is not None:
        commands.append({"links": asdict(links)})
    for case, command in zip([*cases, None], commands, strict=False):
        broadcast_command(ctx, command)
        got = execute(ctx, command, settings, run_id, hosts)
        if case is None:
            on_case(None, {"links": got})
            continue
        payload: Mapping[str, Any] = got if isinstance(got, dict) else {"reports": got}
        on_case(case, payload)
        if "reports" not in payload:
            return str(payload.get("error"))  # the world is broken: no goodbye
    broadcast_command(ctx, None)
    dist.destroy_process_group()
    return None


def _result(report: Mapping[str, Any], dtype: str) -> RankResult:
    row = report["row"]
    return RankResult(rank=int(report["rank"]), host=str(report["host"]),
                      device=str(report["device"]), status=str(row.get("status")),
                      seconds=report.get("seconds") or [], fingerprint=report.get("fingerprint"),
                      values=report.get("values") or [], dtype=dtype, error=row.get("error"))


def fleet_rows(case: Case, reports: Sequence[Mapping[str, Any]],
               opts: FleetOptions, confidence: float) -> tuple[CaseVerdict, list[dict[str, Any]]]:
    """Judge one case's reports; the verdict and one result row per rank."""
    verdict = judge_case(case.key, [_result(r, case.dtype) for r in reports],
                         threshold=opts.threshold, confidence=confidence,
                         resamples=opts.resamples, sustained=opts.sustained)
    rows = []
    for report, v in zip(reports, verdict.ranks, strict=True):
        row = dict(report["row"])
        row.update(rank=v.rank, host=v.host, device=report["device"], world_size=len(reports),
                   fleet_ratio=v.ratio, fleet_ci_low=v.ci_low, fleet_ci_high=v.ci_high,
                   fleet_late_ratio=v.late_ratio, fleet_flag=v.flag_text or None)
        if v.detail and not row.get("error"):
            row["error"] = v.detail
        rows.append(row)
    return verdict, rows


def failure_ranks(payload: Mapping[str, Any]) -> dict[int, str | None]:
    """Rank -> host of the ranks a fatal payload names (a hang: rank 0's monitored
    barrier; a death: its exit status, seen by the parent of a local world)."""
    if "ranks" in payload:
        hosts = {int(k): str(v) for k, v in (payload.get("hosts") or {}).items()}
        return {int(r): hosts.get(int(r)) for r in payload["ranks"]}
    dead = re.findall(r"rank (\d+) (?:killed by|exited with)", str(payload.get("error", "")))
    return {int(n): socket.gethostname() for n in dead[:1]}
