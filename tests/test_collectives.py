"""The collectives family: bus factors, the data check, catalog expansion, world detection,
and real multi-process torch.distributed worlds (local, torchrun, killed and hung ranks)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
import uuid
from fractions import Fraction
from pathlib import Path

import pytest
import torch

import accelbench
from accelbench.distributed.world import case_time_limit, joined_world
from accelbench.errors import CatalogError
from accelbench.workloads.base import Case
from accelbench.workloads.collectives import (
    FAMILY,
    OPS,
    CollectiveSpec,
    bus_factor,
    count_wrong,
    expected_output,
    parse_size,
    pattern,
)
from tests.conftest import FAST, Cli

# nccl-tests (doc/PERFORMANCE.md): busbw = algbw * factor, per operation.
NCCL_TESTS_FACTOR = {
    "all_reduce": lambda n: Fraction(2 * (n - 1), n),
    "all_gather": lambda n: Fraction(n - 1, n),
    "reduce_scatter": lambda n: Fraction(n - 1, n),
    "all_to_all": lambda n: Fraction(n - 1, n),
    "broadcast": lambda n: Fraction(1),
    "send_recv": lambda n: Fraction(1),
}


@pytest.mark.parametrize("n", range(2, 9))
@pytest.mark.parametrize("op", sorted(OPS))
def test_bus_factor_matches_nccl_tests(op: str, n: int) -> None:
    assert bus_factor(op, n) == pytest.approx(float(NCCL_TESTS_FACTOR[op](n)), rel=1e-15)


def test_bus_factor_spot_values() -> None:
    assert bus_factor("all_reduce", 2) == 1.0
    assert bus_factor("all_reduce", 8) == 1.75
    assert bus_factor("all_gather", 4) == 0.75
    with pytest.raises(ValueError, match="unknown collective"):
        bus_factor("reduce", 2)


def _case(op: str, placement: str, size: int, dtype: str = "fp32", reduce: str = "-") -> Case:
    params = (("op", op), ("reduce", reduce), ("placement", placement), ("size", size))
    return Case("collectives", f"{op} {placement}", dtype, params)


def _simulate(spec: CollectiveSpec, n: int) -> list[torch.Tensor]:
    """What each rank must hold after the collective, by direct emulation of the operation."""
    count = spec.count(n)
    chunk = count // n
    spread = 251
    if spec.op in ("all_reduce", "reduce_scatter"):
        spread = 11
    inputs = [pattern(r, torch.arange(count), spread) for r in range(n)]
    if spec.op == "all_reduce":
        stacked = torch.stack(inputs)
        total = stacked.sum(0) if spec.reduce == "sum" else stacked.max(0).values
        return [total] * n
    if spec.op == "all_gather":
        mine = [pattern(r, torch.arange(chunk), spread) for r in range(n)]
        return [torch.cat(mine)] * n
    if spec.op == "reduce_scatter":
        total = torch.stack(inputs).sum(0)
        return [total[r * chunk:(r + 1) * chunk] for r in range(n)]
    if spec.op == "all_to_all":
        return [torch.cat([inputs[src][r * chunk:(r + 1) * chunk] for src in range(n)])
                for r in range(n)]
    if spec.op == "broadcast":
        return [inputs[0]] * n
    return [inputs[(r - 1) % n] for r in range(n)]


@pytest.mark.parametrize("n", [2, 3, 4, 8])
@pytest.mark.parametrize(("op", "reduce"), [
    ("all_reduce", "sum"), ("all_reduce", "max"), ("all_gather", "-"),
    ("reduce_scatter", "sum"), ("all_to_all", "-"), ("broadcast", "-"), ("send_recv", "-"),
])
def test_expected_output_matches_an_emulated_world(op: str, reduce: str, n: int) -> None:
    spec = CollectiveSpec.of(_case(op, OPS[op][0][0], 4096, reduce=reduce))
    for rank, want in enumerate(_simulate(spec, n)):
        got = expected_output(spec, rank, n)
        assert torch.equal(got, want), (op, rank)
        assert count_wrong(got.float(), want) == (0, "")


def test_data_check_catches_a_corrupted_result() -> None:
    spec = CollectiveSpec.of(_case("all_to_all", "out-of-place", 1024))
    good = expected_output(spec, 1, 4).float()
    bad = good.clone()
    bad[17] += 1
    wrong, note = count_wrong(bad, expected_output(spec, 1, 4))
    assert wrong == 1 and "index 17" in note
    # a chunk from the wrong rank is caught too
    swapped = torch.cat([good[64:128], good[:64], good[128:]])
    assert count_wrong(swapped, expected_output(spec, 1, 4))[0] > 0


def test_bf16_sums_stay_exact() -> None:
    spec = CollectiveSpec.of(_case("all_reduce", "in-place", 4096, "bf16", "sum"))
    for n in (2, 8, 64):
        want = expected_output(spec, 0, n)
        assert torch.equal(want.to(torch.bfloat16).to(torch.int64), want), n


def test_size_rounds_to_whole_chunks() -> None:
    spec = CollectiveSpec.of(_case("all_gather", "out-of-place", 1024))
    assert spec.count(2) == 256 and spec.count(3) == 255 and spec.nbytes(3) == 1020
    assert CollectiveSpec.of(_case("broadcast", "in-place", 1024)).count(3) == 256


def test_catalog_expansion_names_and_errors() -> None:
    cases = FAMILY.expand({"op": "all_reduce", "sizes": {"min": "1KiB", "max": "4MiB",
                                                         "factor": 64}}, "t")
    names = sorted({c.case for c in cases})
    assert names == sorted(f"all_reduce {r} in-place {s}" for r in ("sum", "max")
                           for s in ("1KiB", "64KiB", "4MiB"))
    assert {c.dtype for c in cases} == {"fp32", "bf16"}
    ag = FAMILY.expand({"op": "all_gather", "sizes": ["1MiB"], "dtypes": ["fp32"]}, "t")
    assert [c.case for c in ag] == ["all_gather out-of-place 1MiB", "all_gather in-place 1MiB"]
    assert parse_size("3KiB") == 3072 and parse_size(100) == 100
    for bad, match in (({"op": "reduce", "sizes": [1]}, "unknown collective"),
                       ({"op": "broadcast", "sizes": ["1XB"]}, "field 'sizes'"),
                       ({"op": "broadcast", "sizes": [1], "placement": "out-of-place"},
                        "placement"),
                       ({"op": "all_to_all", "sizes": [1], "reduce": "sum"}, "no reduction"),
                       ({"op": "all_reduce"}, "missing field 'sizes'")):
        with pytest.raises(CatalogError, match=match):
            FAMILY.expand(bad, "t")


def test_joined_world_detection(monkeypatch: pytest.MonkeyPatch) -> None:
    for var in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "SLURM_STEP_NUM_TASKS",
                "ACCELBENCH_LOCAL_WORLD", "MASTER_ADDR", "MASTER_PORT", "LOCAL_RANK"):
        monkeypatch.delenv(var, raising=False)
    assert joined_world() is None
    monkeypatch.setenv("SLURM_PROCID", "3")
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "1")
    assert joined_world() is None  # a one-task step is no world
    monkeypatch.setenv("SLURM_STEP_NUM_TASKS", "8")
    monkeypatch.setenv("SLURM_LOCALID", "1")
    monkeypatch.setenv("MASTER_ADDR", "node1")
    env = joined_world()
    assert env is not None and (env.rank, env.world_size, env.local_rank) == (3, 8, 1)
    assert env.launcher == "slurm" and env.master_addr == "node1" and env.master_port == 29500
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "2")
    monkeypatch.setenv("MASTER_PORT", "1234")
    env = joined_world()
    assert env is not None and env.launcher == "torchrun" and env.master_port == 1234
    monkeypatch.setenv("ACCELBENCH_LOCAL_WORLD", "1")
    assert joined_world() is None  # our own local ranks do not count as a joined world


# ------------------------------------------------------------------ real worlds
TINY = """
family = "collectives"
[[case]]
op = "all_reduce"
sizes = ["4KiB"]
[[case]]
op = "all_gather"
sizes = ["4KiB"]
dtypes = ["fp32"]
[[case]]
op = "reduce_scatter"
placement = "in-place"
sizes = ["64KiB"]
dtypes = ["bf16"]
[[case]]
op = "all_to_all"
sizes = ["4KiB"]
dtypes = ["fp32"]
[[case]]
op = "broadcast"
sizes = ["1KiB"]
dtypes = ["fp32"]
[[case]]
op = "send_recv"
sizes = ["1KiB"]
dtypes = ["fp32"]
"""


def _only_run(out: Path) -> Path:
    runs = [p for p in out.iterdir() if p.is_dir()]
    assert len(runs) == 1, runs
    return runs[0]


def _marked_processes(mark: str) -> list[int]:
    """PIDs of live processes whose environment carries ``mark`` (our ranks inherit it)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            state = (entry / "stat").read_text().rsplit(")", 1)[1].split()[0]
        except OSError:
            continue
        if mark.encode() in environ and state != "Z":
            found.append(int(entry.name))
    return found


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if k not in ("RANK", "WORLD_SIZE", "SLURM_PROCID", "ACCELBENCH_FAULT")}
    return dict(env, COLUMNS="200", **extra)


def _accelbench(tmp_path: Path, *args: str, env: dict[str, str],
                timeout: float = 300) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "accelbench", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=tmp_path, env=env, check=False)


@pytest.mark.timeout(300)
def test_two_rank_world_end_to_end(tmp_path: Path) -> None:
    suite = tmp_path / "coll.toml"
    suite.write_text(TINY)
    mark = f"ACCELBENCH_TEST_MARK={uuid.uuid4().hex}"
    key, value = mark.split("=")
    env = _env(ACCELBENCH_FAULT="corrupt:1:all_to_all", **{key: value})
    proc = _accelbench(tmp_path, "run", "--device", "cpu", "--suite", str(suite),
                       "--world-size", "2", "--out", "out", *FAST, env=env)
    assert proc.returncode == 1, proc.stderr  # the corrupted case fails the run
    run = _only_run(tmp_path / "out")
    frame = accelbench.load(run).set_index("case")
    assert len(frame) == 10  # all_reduce: 2 reductions x 2 dtypes; all_gather: 2 placements
    bad = frame.loc["all_to_all out-of-place 4KiB"]
    assert bad["status"] == "mismatch"
    assert bad["mismatch_frac"] == pytest.approx(1 / (2 * 1024))
    assert "rank 1" in bad["error"] and "index 0" in bad["error"]
    good = frame.drop(index="all_to_all out-of-place 4KiB")
    assert set(good["status"]) == {"ok"}, good[["status", "error"]]
    assert (good["mismatch_frac"] == 0).all()
    # agreement columns: the worst rank's figures against the exact expected output
    assert (good["rel_rmse"] == 0).all() and (good["cosine"] == 1).all()
    assert bad["rel_rmse"] > 0 and bad["cosine"] < 1
    assert (frame["world_size"] == 2).all()
    ok = frame[frame["status"].isin(["ok", "mismatch"])]
    ops = ok["params"].str.extract(r"op=(\w+)")[0]
    factors = [bus_factor(op, 2) for op in ops]
    assert ok["algbw_gbps"].to_numpy() == pytest.approx(ok["bytes"] / ok["median_s"] / 1e9)
    assert ok["busbw_gbps"].to_numpy() == pytest.approx(ok["algbw_gbps"].to_numpy() * factors)
    assert (ok["rank_skew"] >= 1).all() and ok["slowest_rank"].isin([0, 1]).all()
    assert frame.loc["reduce_scatter in-place 64KiB", "bytes"] == 65536
    samples = accelbench.load_samples(run)
    per_rank = samples.groupby(["case", "dtype", "rank"]).size().unstack("rank")
    assert list(per_rank.columns) == [0, 1]
    assert (per_rank[0] == per_rank[1]).all()  # every rank ran the same plan
    row = frame.loc["all_gather out-of-place 4KiB"]
    assert per_rank.loc[("all_gather out-of-place 4KiB", "fp32"), 0] == row["n_samples"]
    slow = samples[(samples["case"] == "all_gather out-of-place 4KiB")
                   & (samples["rank"] == row["slowest_rank"])]
    assert slow["seconds"].median() == pytest.approx(row["median_s"])
    assert "busbw GB/s" in proc.stdout and "all_reduce sum in-place 4KiB" in proc.stdout
    assert _marked_processes(value) == []


@pytest.mark.timeout(300)
def test_killed_and_hung_ranks_are_recorded_and_leave_no_process(tmp_path: Path) -> None:
    suite = tmp_path / "coll.toml"
    suite.write_text('family = "collectives"\n[[case]]\nop = "all_reduce"\nreduce = "sum"\n'
                     'sizes = ["64KiB", "128KiB", "256KiB"]\ndtypes = ["fp32"]\n')
    mark = uuid.uuid4().hex
    env = _env(ACCELBENCH_FAULT="kill:1:in-place 64KiB;hang:0:in-place 128KiB",
               ACCELBENCH_CASE_TIMEOUT="20", ACCELBENCH_TEST_MARK=mark)
    started = time.monotonic()
    proc = _accelbench(tmp_path, "run", "--device", "cpu", "--suite", str(suite),
                       "--world-size", "2", "--out", "out", *FAST, env=env)
    assert proc.returncode == 1, proc.stderr
    frame = accelbench.load(_only_run(tmp_path / "out")).set_index("case")
    killed = frame.loc["all_reduce sum in-place 64KiB"]
    assert killed["status"] == "crash"
    assert "rank 1 killed by SIGKILL" in killed["error"]
    hung = frame.loc["all_reduce sum in-place 128KiB"]
    assert hung["status"] == "timeout" and "20 s" in hung["error"]
    # the run went on in a fresh world
    assert frame.loc["all_reduce sum in-place 256KiB", "status"] == "ok"
    assert time.monotonic() - started < 200
    assert _marked_processes(mark) == []


@pytest.mark.timeout(300)
def test_torchrun_world_runs_the_same_code_path(tmp_path: Path) -> None:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    launcher = [torchrun] if torchrun else [sys.executable, "-m", "torch.distributed.run"]
    suite = tmp_path / "coll.toml"
    suite.write_text('family = "collectives"\n[[case]]\nop = "all_reduce"\n'
                     'sizes = ["4KiB", "64KiB"]\ndtypes = ["fp32"]\n')
    mark = uuid.uuid4().hex
    proc = subprocess.run(
        [*launcher, "--standalone", "--nproc_per_node", "2", "-m", "accelbench", "run",
         "--device", "cpu", "--suite", str(suite), "--out", "out", *FAST],
        capture_output=True, text=True, timeout=280, cwd=tmp_path,
        env=_env(ACCELBENCH_TEST_MARK=mark), check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = _only_run(tmp_path / "out")  # only rank 0 wrote a run directory
    frame = accelbench.load(run)
    assert len(frame) == 4 and set(frame["status"]) == {"ok"}
    assert (frame["world_size"] == 2).all() and (frame["mismatch_frac"] == 0).all()
    assert (frame["busbw_gbps"] > 0).all()
    samples = accelbench.load_samples(run)
    assert set(samples["rank"]) == {0, 1}
    assert proc.stdout.count("busbw GB/s") == 1  # one table, from rank 0
    assert _marked_processes(mark) == []


def test_world_size_must_be_positive(cli: Cli) -> None:
    proc = cli("run", "--device", "cpu", "--kernels", "collectives", "--world-size", "0")
    assert proc.returncode == 2 and "--world-size" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_case_time_limit_grows_with_the_budget(monkeypatch: pytest.MonkeyPatch) -> None:
    from accelbench.measure.core import Settings

    monkeypatch.delenv("ACCELBENCH_CASE_TIMEOUT", raising=False)
    assert case_time_limit(Settings(warmup=1, max_case_time=5)) == 48.0
    monkeypatch.setenv("ACCELBENCH_CASE_TIMEOUT", "7")
    assert case_time_limit(Settings()) == 7.0


def test_collective_cases_outside_a_world_are_unsupported() -> None:
    from accelbench.errors import UnsupportedError

    with pytest.raises(UnsupportedError, match=r"torch\.distributed world"):
        FAMILY.prepare(_case("broadcast", "in-place", 1024), None)

