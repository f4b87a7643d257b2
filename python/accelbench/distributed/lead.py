"""Running world cases: in local worlds we spawn, or in the torchrun/Slurm world we are in.

The runner hands every case of a family that ``needs_world`` to
:func:`run_world_cases`. In a local world the parent (this process) sends
each case to rank 0 and watches the ranks (:class:`~accelbench.distributed.
world.LocalWorld`); in a joined world this process *is* rank 0: it
broadcasts each case and measures it with the others
(:func:`~accelbench.distributed.rank.measure_on_rank`), and the other ranks
:func:`follow`.
"""

from __future__ import annotations

import datetime
import os
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import torch
import torch.distributed as dist

from accelbench.devices import Device, resolve_device
from accelbench.devices.backends import import_backends
from accelbench.distributed.rank import RankContext, collective_row, measure_on_rank
from accelbench.distributed.world import (
    LocalWorld,
    WorldEnv,
    case_dict,
    case_from_dict,
    case_time_limit,
    default_world_size,
    dist_backend,
    joined_world,
    unsupported_world,
)
from accelbench.errors import UsageError
from accelbench.kinds import Status
from accelbench.measure.core import Outcome, Settings, base_row
from accelbench.workloads.base import Case

__all__ = ["follow", "init_rank", "release_followers", "run_world_cases"]

#: Records one finished case (the runner's bookkeeping).
Record = Callable[[Case, Outcome], None]


def local_device(spec: str, local_rank: int) -> Device:
    """This rank's Device: accelerator ``local_rank % device_count``; the CPU as is.

    A rank of a local world first imports the backend packages the parent
    imported (``ACCELBENCH_IMPORTS``).
    """
    import_backends(os.environ.get("ACCELBENCH_IMPORTS", "").split(","))
    device = resolve_device(spec)
    if device.backend not in ("cpu", "mps"):
        count = getattr(torch, device.backend).device_count()
        device = resolve_device(f"{device.backend}:{local_rank % count}")
        getattr(torch, device.backend).set_device(device.index)
    return device


def init_rank(env: WorldEnv, device_spec: str, timeout_s: float,
              control_only: bool = False) -> RankContext:
    """Join the process group of ``env``; returns this rank's context.

    ``control_only``: the world only coordinates (barriers, gathers of CPU objects, as in a
    fleet), so a device whose collective library torch does not know joins over gloo.
    """
    device = local_device(device_spec, env.local_rank)
    backend = dist_backend(device.backend)
    if backend is None and control_only:
        backend = "gloo"
    if backend is None:
        raise UsageError(f"no torch.distributed backend for {device.backend}")
    os.environ.setdefault("MASTER_ADDR", env.master_addr)
    os.environ.setdefault("MASTER_PORT", str(env.master_port))
    kwargs: dict[str, Any] = {}
    if device.backend != "cpu" and backend != "gloo":
        kwargs["device_id"] = torch.device(device.spec)
    dist.init_process_group(backend, init_method="env://", rank=env.rank,
                            world_size=env.world_size,
                            timeout=datetime.timedelta(seconds=timeout_s), **kwargs)
    ctrl = None if backend == "gloo" else dist.new_group(backend="gloo")
    return RankContext(env.rank, env.world_size, device, backend, None, ctrl)


def _row(case: Case, device: Device, settings: Settings, run_id: str) -> dict[str, Any]:
    row = base_row(case, device, run_id)
    row.update(cache_state=settings.cache, graph=settings.graph)
    return row


def run_world_cases(cases: Iterable[Case], device: Device, settings: Settings, run_id: str,
                    record: Record) -> None:
    """Measure world cases in the joined world, or in local worlds we spawn."""
    env = joined_world()
    if env is not None:
        _lead_joined(env, cases, device, settings, run_id, record)
        return
    n = settings.world_size or default_world_size(device)
    reason = unsupported_world(device, n)
    world: LocalWorld | None = None
    try:
        for case in cases:
            t0 = time.perf_counter()
            if reason:
                payload: dict[str, Any] = {"status": Status.UNSUPPORTED, "error": reason,
                                           "world_size": n}
            else:
                payload = {}
                if world is None or not world.alive:
                    if world is not None:
                        world.close()
                    world = LocalWorld(n, device.spec, settings)
                    payload = world.start() or {}
                if not payload:
                    payload = world.run(case)
            outcome = collective_row(_row(case, device, settings, run_id), case, payload,
                                     settings.confidence)
            outcome.row["wall_s"] = time.perf_counter() - t0
            record(case, outcome)
    except BaseException:
        if world is not None:
            world.kill()  # interrupted mid-case: no graceful goodbye
        raise
    finally:
        if world is not None:
            world.close()


# ---------------------------------------------------------------- joined worlds
_JOINED: RankContext | None = None  # this process's context once it joined


def _joined_ctx(env: WorldEnv, device_spec: str, settings: Settings) -> RankContext:
    global _JOINED
    if _JOINED is None:
        _JOINED = init_rank(env, device_spec, case_time_limit(settings))
    return _JOINED


def broadcast_case(ctx: RankContext, case: Case | None) -> Case | None:
    """Rank 0 sends ``case`` (None: stop) to every rank; every rank returns what rank 0 sent."""
    box: list[Any] = [None if case is None else case_dict(case)]
    dist.broadcast_object_list(box, src=0, group=ctx.ctrl)
    return None if box[0] is None else case_from_dict(box[0])


def _lead_joined(env: WorldEnv, cases: Iterable[Case], device: Device, settings: Settings,
                 run_id: str, record: Record) -> None:
    """Rank 0 of a torchrun/Slurm world: broadcast each case, measure it, record its row."""
    ctx = _joined_ctx(env, device.spec, settings)
    limit = case_time_limit(settings)
    for case in cases:
        row = _row(case, device, settings, run_id)
        t0 = time.perf_counter()

        def overrun(case: Case = case, row: dict[str, Any] = row) -> None:
            row.update(status=Status.TIMEOUT, world_size=env.world_size,
                       error=f"no result within {limit:.0f} s; ending the world "
                             "(finish the run with --resume)")
            record(case, Outcome(row, {}))
            os._exit(3)

        watchdog = threading.Timer(limit, overrun)
        watchdog.daemon = True
        watchdog.start()
        try:
            broadcast_case(ctx, case)
            payload = measure_on_rank(case, ctx, settings) or {}
        finally:
            watchdog.cancel()
        outcome = collective_row(row, case, payload, settings.confidence)
        outcome.row["wall_s"] = time.perf_counter() - t0
        record(case, outcome)


def release_followers(device: Device, settings: Settings) -> None:
    """Rank 0 of a joined world: tell the other ranks that the run is over."""
    env = joined_world()
    if env is None or env.rank != 0:
        return
    ctx = _joined_ctx(env, device.spec, settings)
    broadcast_case(ctx, None)
    dist.destroy_process_group()


def follow(device_spec: str, settings: Settings) -> int:
    """A rank other than 0 of a joined world: run what rank 0 broadcasts until it says stop."""
    env = joined_world()
    assert env is not None and env.rank != 0
    ctx = _joined_ctx(env, device_spec, settings)
    while (case := broadcast_case(ctx, None)) is not None:
        measure_on_rank(case, ctx, settings)
    dist.destroy_process_group()
    return 0
