"""Worlds of ranks: where this process sits in one, and local worlds we spawn and watch.

The transport is always ``torch.distributed`` (gloo on CPU, NCCL/RCCL on
cuda, XCCL on xpu, HCCL on npu); this module only starts, joins, watches and
ends worlds.

**Local world** (``accelbench run --world-size N`` on one machine): the
``accelbench`` process is the *parent*; it spawns N rank processes
(``python -m accelbench.distributed.world``), each in its own session so that
killing its process group removes it and anything it started, with a
parent-death signal so none outlives the parent. The ranks meet on a free
localhost port; on accelerators rank ``r`` uses device ``r % device_count``.
The parent sends one case at a time to rank 0 (a JSON line on its stdin);
rank 0 broadcasts it to the others and answers with the result payload on a
pipe. The parent is the watchdog: a case must answer within its time limit
(:func:`case_time_limit`), and every rank must stay alive. A dead rank is a
``crash`` naming the rank and its signal or exit code, a late answer a
``timeout``; either way the whole world is killed and the next case starts
in a fresh one. ``init_process_group`` also gets a timeout, so collectives
waiting for a dead peer fail on their own.

**Joined world** (launched by ``torchrun`` or Slurm's ``srun``, detected from
``RANK``/``WORLD_SIZE``/``MASTER_ADDR`` or ``SLURM_PROCID``/``SLURM_NTASKS``):
every process runs ``accelbench run``; rank 0 runs the suite and writes the
run directory, the other ranks follow its broadcasts (:func:`follow`). A case
that overruns its limit is recorded as ``timeout`` and rank 0 exits, so the
launcher ends the world; ``--resume`` finishes the run.
"""

from __future__ import annotations

import contextlib
import json
import os
import select
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from typing import IO, TYPE_CHECKING, Any

from accelbench.errors import UsageError
from accelbench.kinds import Launcher, Status
from accelbench.measure.core import Settings
from accelbench.supervise import exit_text, kill_group, log_tail
from accelbench.workloads.base import Case

if TYPE_CHECKING:
    from accelbench.devices import Device

__all__ = [
    "DIST_BACKENDS",
    "LocalWorld",
    "WorldEnv",
    "case_dict",
    "case_from_dict",
    "case_time_limit",
    "check_world_size",
    "default_world_size",
    "dist_backend",
    "joined_world",
    "unsupported_world",
    "world_cases",
]

#: torch.distributed backend per device backend (RCCL answers to "nccl" on ROCm).
DIST_BACKENDS = {"cpu": "gloo", "cuda": "nccl", "xpu": "xccl", "npu": "hccl"}
TIMEOUT_ENV = "ACCELBENCH_CASE_TIMEOUT"
START_TIMEOUT_S = 180.0


@dataclass(frozen=True)
class WorldEnv:
    """Where this process sits in a world: rank, size and the rendezvous address."""

    rank: int
    world_size: int
    local_rank: int
    master_addr: str
    master_port: int
    launcher: Launcher


def _env_int(name: str) -> int | None:
    value = os.environ.get(name)
    return int(value) if value is not None and value.strip().isdigit() else None


def joined_world() -> WorldEnv | None:
    """The torchrun or Slurm world this process was launched into, if any."""
    if os.environ.get("ACCELBENCH_LOCAL_WORLD"):
        return None
    rank, size = _env_int("RANK"), _env_int("WORLD_SIZE")
    if rank is not None and size is not None:
        return WorldEnv(rank, size, _env_int("LOCAL_RANK") or 0,
                        os.environ.get("MASTER_ADDR", "127.0.0.1"),
                        _env_int("MASTER_PORT") or 29500, Launcher.TORCHRUN)
    rank, size = _env_int("SLURM_PROCID"), _env_int("SLURM_STEP_NUM_TASKS")
    if rank is not None and size is not None and size > 1:
        if "MASTER_ADDR" not in os.environ:
            raise UsageError("running under srun: set MASTER_ADDR (the first node's address) "
                             "and MASTER_PORT for torch.distributed's rendezvous")
        return WorldEnv(rank, size, _env_int("SLURM_LOCALID") or 0, os.environ["MASTER_ADDR"],
                        _env_int("MASTER_PORT") or 29500, Launcher.SLURM)
    return None


def world_cases(cases: Sequence[Case], needs_world: Callable[[Case], bool]) -> list[Case]:
    """Inside a joined world only the cases that need a world run (the others need none)."""
    if joined_world() is None:
        return list(cases)
    return [c for c in cases if needs_world(c)]


def dist_backend(device_backend: str) -> str | None:
    """The torch.distributed backend for a device backend, or None.

    Beyond the in-tree ones, a PrivateUse1 package that registers its
    collective library (``Backend.register_backend(..., devices=[name])``,
    as Cambricon's cncl or Moore Threads' mccl do) is found in torch's
    device-to-backend map.
    """
    if device_backend in DIST_BACKENDS:
        return DIST_BACKENDS[device_backend]
    try:
        import torch.distributed as dist

        found = dist.Backend.default_device_backend_map.get(device_backend)
    except (ImportError, AttributeError):
        return None
    return str(found) if found else None


def case_time_limit(settings: Settings) -> float:
    """Wall-time limit of one collective case: generous against its sampling budget.

    Warm-up and sampling take ``warmup + max_case_time``; calibration, the
    data check and a slow first collective (communicator set-up on GPUs) get
    a factor of 3 and 30 s on top. ``ACCELBENCH_CASE_TIMEOUT`` overrides it.
    """
    override = os.environ.get(TIMEOUT_ENV)
    if override:
        return float(override)
    return 30.0 + 3.0 * (settings.warmup + settings.max_case_time)


# ---------------------------------------------------------------- local worlds
def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class LocalWorld:
    """N rank processes on this machine, watched by the parent (this process)."""

    def __init__(self, world_size: int, device_spec: str, settings: Settings,
                 module: str = "accelbench.distributed",
                 extra_env: dict[str, str] | None = None) -> None:
        self.world_size = world_size
        self.module = module  # what each rank process runs (python -m MODULE)
        self.extra_env = dict(extra_env or {})
        self.device_spec = device_spec
        self.settings = settings
        self.limit = case_time_limit(settings)
        self.procs: list[subprocess.Popen[bytes]] = []
        #: each rank's output, in an unlinked temporary file: nothing is left on disk even
        #: when this process is SIGKILLed (the kernel frees the file with its last descriptor)
        self.logs: list[IO[bytes]] = []
        self._read_fd = -1
        self._buf = b""
        self._stdin: IO[bytes] | None = None

    # -- life cycle -----------------------------------------------------------
    def start(self) -> dict[str, Any] | None:
        """Spawn the ranks and wait until the world is up; a failure payload otherwise."""
        read_fd, write_fd = os.pipe()
        self._read_fd = read_fd
        port = _free_port()
        threads = max(1, (os.cpu_count() or 1) // self.world_size)
        from accelbench.devices.backends import imported_backends

        for rank in range(self.world_size):
            log = tempfile.TemporaryFile(prefix=f"accelbench-rank{rank}-")  # noqa: SIM115
            self.logs.append(log)
            env = dict(os.environ, RANK=str(rank), WORLD_SIZE=str(self.world_size),
                       LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port),
                       ACCELBENCH_LOCAL_WORLD="1", ACCELBENCH_DEVICE=self.device_spec,
                       ACCELBENCH_IMPORTS=",".join(imported_backends()),
                       ACCELBENCH_PARENT_PID=str(os.getpid()),
                       ACCELBENCH_PG_TIMEOUT=str(self.limit),
                       ACCELBENCH_SETTINGS=json.dumps(self.settings.as_dict()),
                       OMP_NUM_THREADS=str(threads), **self.extra_env)
            if rank == 0:
                env["ACCELBENCH_RESULT_FD"] = str(write_fd)
            proc = subprocess.Popen(
                [sys.executable, "-m", self.module],
                stdin=subprocess.PIPE if rank == 0 else subprocess.DEVNULL,
                stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True,
                pass_fds=(write_fd,) if rank == 0 else (),
            )
            self.procs.append(proc)
        os.close(write_fd)
        self._stdin = self.procs[0].stdin
        reply = self._wait(time.monotonic() + START_TIMEOUT_S, "start")
        if reply.get("event") == "ready":
            return None
        self.kill()
        return reply

    def run(self, case: Case) -> dict[str, Any]:
        """Measure one case; a crash/timeout payload (and a killed world) on failure."""
        return self.request({"case": case_dict(case)})

    def request(self, message: dict[str, Any], limit: float | None = None) -> dict[str, Any]:
        """Send rank 0 one command and wait for its payload (at most ``limit`` seconds,
        the case limit by default); a crash/timeout payload (and a killed world) on failure."""
        assert self._stdin is not None
        try:
            self._stdin.write((json.dumps(message) + "\n").encode())
            self._stdin.flush()
        except OSError:
            pass  # rank 0 is gone; _wait names it
        reply = self._wait(time.monotonic() + (limit or self.limit), "case", limit)
        if reply.get("event") == "result":
            payload: dict[str, Any] = reply["payload"]
            if payload.get("fatal"):
                # rank 0 lost the world; if a peer died, that death is the cause
                deadline = time.monotonic() + 3.0
                while time.monotonic() < deadline and not any(
                        (p.poll() or 0) < 0 for p in self.procs):
                    if all(p.poll() is not None for p in self.procs[1:]):
                        break
                    time.sleep(0.05)
                crash = self._crash("case")
                self.kill()
                return crash if "killed by" in crash["error"] else payload
            return payload
        self.kill()
        return reply

    def close(self) -> None:
        """Ask the ranks to leave the world, then make sure every process is gone."""
        if self._stdin is not None and self.alive:
            with contextlib.suppress(OSError):
                self._stdin.write(b'{"stop": true}\n')
                self._stdin.flush()
            deadline = time.monotonic() + 10.0
            while self.alive and time.monotonic() < deadline:
                time.sleep(0.05)
        self.kill()

    @property
    def alive(self) -> bool:
        return bool(self.procs) and all(p.poll() is None for p in self.procs)

    def kill(self) -> None:
        """SIGKILL every rank's process group and reap it; idempotent."""
        for proc in self.procs:
            kill_group(proc, wait_s=10)
        if self._stdin is not None:
            with contextlib.suppress(OSError):
                self._stdin.close()
            self._stdin = None
        if self._read_fd >= 0:
            os.close(self._read_fd)
            self._read_fd = -1
        for log in self.logs:
            log.close()

    # -- the watchdog ---------------------------------------------------------
    def _wait(self, deadline: float, what: str, limit: float | None = None) -> dict[str, Any]:
        """Next message from rank 0, or a crash/timeout payload naming the ranks."""
        while True:
            line, sep, rest = self._buf.partition(b"\n")
            if sep:
                self._buf = rest
                return dict(json.loads(line))
            dead = [(r, p.returncode) for r, p in enumerate(self.procs) if p.poll() is not None]
            if dead:
                crash = self._crash(what)
                self._drain()
                line, sep, rest = self._buf.partition(b"\n")
                if sep and "killed by" not in crash["error"]:
                    self._buf = rest  # rank 0 reported why it left: that is the better reason
                    return dict(json.loads(line))
                return crash
            if time.monotonic() > deadline:
                ranks = ", ".join(str(r) for r in range(self.world_size))
                limit = START_TIMEOUT_S if what == "start" else (limit or self.limit)
                return {"status": Status.TIMEOUT, "world_size": self.world_size,
                        "error": f"no answer within {limit:.0f} s; killed ranks {ranks} "
                                 "(SIGKILL)"}
            ready, _, _ = select.select([self._read_fd], [], [], 0.05)
            if ready:
                chunk = os.read(self._read_fd, 1 << 16)
                if not chunk:
                    time.sleep(0.05)  # rank 0 closed the pipe: it is exiting
                self._buf += chunk

    def _drain(self) -> None:
        while self._read_fd >= 0 and select.select([self._read_fd], [], [], 0)[0]:
            chunk = os.read(self._read_fd, 1 << 16)
            if not chunk:
                return
            self._buf += chunk

    def _crash(self, what: str) -> dict[str, Any]:
        time.sleep(0.5)  # let the peers of a dead rank fail too, then report the first cause
        dead = [(r, p.returncode) for r, p in enumerate(self.procs) if p.poll() is not None]
        # A rank killed by a signal is the likely cause; ranks exiting after it are victims.
        dead.sort(key=lambda rc: (rc[1] is None or rc[1] >= 0, rc[0]))
        parts = []
        for rank, code in dead:
            text = f"rank {rank} {exit_text(code or 0)}"
            if code and code > 0:
                tail = log_tail(self.logs[rank])
                text += f" ({tail})" if tail else ""
            parts.append(text)
        when = "while starting the world" if what == "start" else "during the case"
        return {"status": Status.CRASH, "world_size": self.world_size,
                "error": f"{'; '.join(parts)} {when}"}


def case_dict(case: Case) -> dict[str, Any]:
    return asdict(case)


def case_from_dict(data: dict[str, Any]) -> Case:
    data = dict(data)
    data["params"] = tuple(tuple(p) for p in data["params"])
    data["options"] = tuple(tuple(p) for p in data.get("options", ()))
    return Case(**data)


def default_world_size(device: Device) -> int:
    """2 ranks on the CPU; one rank per visible device on accelerators."""
    if device.backend == "cpu":
        return 2
    import torch

    return int(getattr(torch, device.backend).device_count())


def unsupported_world(device: Device, n: int, control_only: bool = False) -> str | None:
    """Why a local world of ``n`` ranks cannot run on ``device`` (None: it can).
    ``control_only``: the world needs no collective library of the device (gloo serves)."""
    if dist_backend(device.backend) is None and not control_only:
        return f"torch.distributed has no backend for {device.backend}"
    if n < 2:
        return (f"a collective needs at least 2 ranks; {n} {device.backend} device visible "
                "(use --world-size or torchrun)")
    if device.backend != "cpu":
        import torch

        count = int(getattr(torch, device.backend).device_count())
        if n > count:
            return f"{n} ranks need {n} {device.backend} devices, {count} visible"
    return None


#: Memory one local rank process needs (Python, PyTorch and its backend libraries).
RANK_MEMORY_GIB = 0.5
#: Rank processes per logical CPU a local CPU world may have (they mostly wait in collectives).
RANKS_PER_CPU = 4


def _available_gib() -> float | None:
    """Memory available for new processes (Linux ``MemAvailable``; None elsewhere)."""
    try:
        with open("/proc/meminfo", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) / 2**20
    except (OSError, ValueError, IndexError):
        pass
    return None


def world_size_limit(device: Device) -> tuple[int, str]:
    """The most ranks a local world of ``device`` may have here, and what sets the limit.

    Every rank is a process that imports PyTorch: a world larger than the
    machine can hold would take the machine down, not measure it. The limit
    is the smallest of: the visible devices (accelerators), ``RANKS_PER_CPU``
    ranks per logical CPU, and the available memory at ``RANK_MEMORY_GIB``
    per rank.
    """
    cpus = os.cpu_count() or 1
    limits = [(RANKS_PER_CPU * cpus, f"{RANKS_PER_CPU} ranks per logical CPU, {cpus} CPUs")]
    memory = _available_gib()
    if memory is not None:
        limits.append((max(2, int(memory / RANK_MEMORY_GIB)),
                       f"{RANK_MEMORY_GIB:g} GiB per rank, {memory:.1f} GiB available"))
    if device.backend != "cpu":
        import torch

        count = int(getattr(torch, device.backend).device_count())
        limits.append((count, f"{count} {device.backend} devices visible"))
    return min(limits)


def check_world_size(device: Device, n: int | None) -> None:
    """A one-line UsageError when a local world of ``n`` ranks exceeds :func:`world_size_limit`."""
    if n is None:
        return
    limit, why = world_size_limit(device)
    if n > limit:
        raise UsageError(f"--world-size {n}: this machine holds at most {limit} local ranks "
                         f"({why})")
