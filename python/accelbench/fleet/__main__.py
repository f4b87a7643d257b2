"""One rank of a local fleet world: ``python -m accelbench.fleet`` (started by LocalWorld).

The environment carries ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``MASTER_ADDR``/``MASTER_PORT`` as torchrun sets them, plus the device,
settings, run id, the suite (loaded again here, so user-defined families
are registered in every rank) and the result pipe. Rank 0 reads cases from
stdin, one JSON line each (``{"case": ...}``, ``{"links": ...}`` or
``{"stop": true}``), broadcasts them, runs them with the other ranks and
writes every rank's reports for each case (the link rows for ``links``) as
one JSON line to the pipe.
"""

from __future__ import annotations

import json
import os
import sys

from accelbench.supervise import die_with_parent

SUITE_ENV = "ACCELBENCH_FLEET_SUITE"
RUN_ID_ENV = "ACCELBENCH_FLEET_RUN_ID"


def main() -> int:
    """Entry point of a local fleet rank."""
    die_with_parent(int(os.environ["ACCELBENCH_PARENT_PID"]), watch=False)
    import torch.distributed as dist

    from accelbench.distributed.lead import init_rank
    from accelbench.distributed.world import WorldEnv
    from accelbench.fleet.rank import broadcast_command, execute, follow, world_hosts
    from accelbench.kinds import Launcher
    from accelbench.measure.core import Settings
    from accelbench.workloads.catalog import load_suite

    load_suite(os.environ[SUITE_ENV])  # registers the suite's user-defined families
    rank, size = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
    env = WorldEnv(rank, size, int(os.environ["LOCAL_RANK"]), os.environ["MASTER_ADDR"],
                   int(os.environ["MASTER_PORT"]), Launcher.LOCAL)
    settings = Settings.from_dict(json.loads(os.environ["ACCELBENCH_SETTINGS"]))
    run_id = os.environ[RUN_ID_ENV]
    ctx = init_rank(env, os.environ["ACCELBENCH_DEVICE"],
                    float(os.environ["ACCELBENCH_PG_TIMEOUT"]), control_only=True)
    hosts = world_hosts(ctx)  # also the barrier: every rank is in
    if rank != 0:
        follow(ctx, settings, run_id, hosts)
        dist.destroy_process_group()
        return 0
    out = os.fdopen(int(os.environ["ACCELBENCH_RESULT_FD"]), "w", buffering=1)
    out.write(json.dumps({"event": "ready", "hosts": hosts}) + "\n")
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("stop"):
            break
        broadcast_command(ctx, message)
        got = execute(ctx, message, settings, run_id, hosts)
        if "links" in message:
            payload = {"links": got}
        else:
            payload = got if isinstance(got, dict) else {"reports": got}
        out.write(json.dumps({"event": "result", "payload": payload}, default=str) + "\n")
        if isinstance(got, dict):
            return 1  # the world is broken: the parent ends it
    broadcast_command(ctx, None)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
