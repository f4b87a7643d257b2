"""One rank of a local fleet world: ``python -m accelbench.fleet`` (started by LocalWorld).

The environment carries ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK`` and
``MASTER_ADDR``/``MASTER_PORT`` as torchrun sets them, plus the device,
settings, run id, the suite (loaded again here, so user-defined families
are registered in every rank) and the result pipe. Rank 0 reads cases from
stdin, one JSON line each, broadcasts them, runs them with the other ranks
and writes every rank's reports for each case as one JSON line to the pipe.
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

    from accelbench.distributed.lead import broadcast_case, init_rank
    from accelbench.distributed.world import WorldEnv, case_from_dict
    from accelbench.fleet.rank import fleet_case, world_hosts
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
        while (case := broadcast_case(ctx, None)) is not None:
            fleet_case(ctx, case, settings, run_id, hosts)
        dist.destroy_process_group()
        return 0
    out = os.fdopen(int(os.environ["ACCELBENCH_RESULT_FD"]), "w", buffering=1)
    out.write(json.dumps({"event": "ready", "hosts": hosts}) + "\n")
    for line in sys.stdin:
        message = json.loads(line)
        if message.get("stop"):
            break
        case = case_from_dict(message["case"])
        broadcast_case(ctx, case)
        got = fleet_case(ctx, case, settings, run_id, hosts)
        payload = got if isinstance(got, dict) else {"reports": got}
        out.write(json.dumps({"event": "result", "payload": payload}, default=str) + "\n")
        if isinstance(got, dict):
            return 1  # the world is broken: the parent ends it
    broadcast_case(ctx, None)
    dist.destroy_process_group()
    return 0


if __name__ == "__main__":
    sys.exit(main())
