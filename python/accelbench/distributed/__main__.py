"""One rank of a local world: ``python -m accelbench.distributed`` (started by LocalWorld).

The parent passes everything in the environment (``RANK``, ``WORLD_SIZE``,
``LOCAL_RANK``, ``MASTER_ADDR``/``MASTER_PORT`` as torchrun sets them, and
the device, settings and result pipe). Rank 0 reads cases from stdin, one
JSON line each, broadcasts them, measures them with the other ranks and
writes each result payload as a JSON line to the pipe. The parent-death
signal is armed first; PyTorch is imported after it.
"""

from __future__ import annotations

import json
import os
import sys
from typing import TYPE_CHECKING

from accelbench.supervise import die_with_parent

if TYPE_CHECKING:
    from accelbench.distributed.rank import RankContext
    from accelbench.measure.core import Settings


def _serve_rank0(ctx: RankContext, settings: Settings) -> int:
    from accelbench.distributed.lead import broadcast_case
    from accelbench.distributed.rank import measure_on_rank
    from accelbench.distributed.world import case_from_dict
    from accelbench.kinds import Status

    out = os.fdopen(int(os.environ["ACCELBENCH_RESULT_FD"]), "w", buffering=1)
    out.write(json.dumps({"event": "ready"}) + "\n")
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("stop"):
            break
        case = case_from_dict(message["case"])
        broadcast_case(ctx, case)
        try:
            payload = measure_on_rank(case, ctx, settings)
        except Exception as exc:  # the world may be broken: report, then leave it
            first = str(exc).splitlines()[0][:300] if str(exc) else ""
            payload = {"status": Status.ERROR, "fatal": True, "world_size": ctx.world_size,
                       "error": f"rank 0: {type(exc).__name__}: {first}"}
            out.write(json.dumps({"event": "result", "payload": payload}) + "\n")
            return 1
        out.write(json.dumps({"event": "result", "payload": payload}) + "\n")
    broadcast_case(ctx, None)
    return 0


def main() -> int:
    """Entry point of a local-world rank."""
    die_with_parent(int(os.environ["ACCELBENCH_PARENT_PID"]), watch=False)
    import torch.distributed as dist

    from accelbench.distributed.lead import broadcast_case, init_rank
    from accelbench.distributed.rank import measure_on_rank
    from accelbench.distributed.world import WorldEnv
    from accelbench.kinds import Launcher
    from accelbench.measure.core import Settings

    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    env = WorldEnv(rank, size, int(os.environ["LOCAL_RANK"]), os.environ["MASTER_ADDR"],
                   int(os.environ["MASTER_PORT"]), Launcher.LOCAL)
    settings = Settings.from_dict(json.loads(os.environ["ACCELBENCH_SETTINGS"]))
    ctx = init_rank(env, os.environ["ACCELBENCH_DEVICE"],
                    float(os.environ["ACCELBENCH_PG_TIMEOUT"]))
    dist.barrier(group=ctx.ctrl)  # every rank is in: the world is up
    if rank != 0:
        while (case := broadcast_case(ctx, None)) is not None:
            measure_on_rank(case, ctx, settings)
        return 0
    code = _serve_rank0(ctx, settings)
    if code == 0:
        dist.destroy_process_group()
    return code


if __name__ == "__main__":
    sys.exit(main())
