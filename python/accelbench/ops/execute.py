"""One (operator, dtype) of the sweep, run in the worker: samples, agreement, determinism.

For every OpInfo sample input of the operator (built on the CPU by OpInfo's
own seeded generator, then copied to the device, so every device sees
bit-identical inputs):

1. the operator runs on the device (``torch.manual_seed(0)`` first, so
   random operators repeat themselves);
2. it runs again on fresh copies of the same inputs: the outputs must be
   bitwise equal (``deterministic``);
3. the same sample, its tensors of the swept dtype upcast to float64, runs
   on the CPU: every output is compared with that reference by the
   per-output comparison of the kernel families
   (:mod:`accelbench.numerics.checks`, the native ``compare_to_reference``
   with the dtype tolerance), so the row has the same agreement columns as
   any case; integer and boolean outputs must be equal;
4. for the first sample, and for any sample outside tolerance, runs with other
   seeds tell random operators (dropout, bernoulli) apart: their outputs
   cannot match a reference, so they get the flag ``random`` and no agreement
   figures or fingerprint. An operator whose OpInfo wrapper seeds the
   generator itself (``wrapper_set_seed``: SDPA with dropout, bernoulli)
   cannot be told apart that way: its samples that disagree are counted as
   random (not compared), those that agree as agreement. Decompositions whose
   vectors are unique only up to sign (``linalg.svd``, ``linalg.eigh``) are
   compared on their values (:data:`UNIQUE_OUTPUTS`); ``empty`` and friends
   only on running (:data:`UNDEFINED_OUTPUT`).

The row is the worst over samples and outputs (maximum errors, the smallest
cosine). Status: ``error`` when a sample raised (other than "not
implemented"), else ``mismatch`` when an output is outside tolerance, else
``ok``; ``unsupported`` when no sample ran because the device has no kernel.
The outputs of all samples, concatenated, are fingerprinted for
``accelbench consistency``.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch

from accelbench.devices import Device
from accelbench.kinds import Defect, Flag, Status, join_flags
from accelbench.measure.core import Outcome, base_row, is_unsupported
from accelbench.numerics.checks import _fingerprint_record
from accelbench.numerics.tolerance import tolerance_for
from accelbench.ops import inject, opinfo
from accelbench.ops.compiled import compile_columns
from accelbench.ops.outputs import (
    SEED,
    SampleRun,
    call,
    compare_outputs,
    leaves,
    longest_dim,
    merge_columns,
    moved,
    real,
    same_bits,
)
from accelbench.ops.repro import defect_record
from accelbench.ops.timing import time_sample
from accelbench.workloads.base import DTYPES, Case, torch_dtype

__all__ = ["UNDEFINED_OUTPUT", "UNIQUE_OUTPUTS", "OpOptions", "Tally", "run_op"]

#: Decompositions whose vectors are unique only up to sign (or phase): only the outputs at
#: these positions (eigenvalues, singular values) are compared and fingerprinted.
UNIQUE_OUTPUTS: dict[str, tuple[int, ...]] = {
    "linalg.eig": (0,), "linalg.eigh": (0,), "linalg.svd": (1,), "svd": (1,),
}

#: Operators whose output is uninitialised memory by contract: values are neither compared
#: nor required to repeat (flag ``undefined_output``).
UNDEFINED_OUTPUT = frozenset({"empty", "empty_like", "empty_permuted", "empty_strided",
                              "new_empty", "new_empty_strided"})


@dataclass(frozen=True)
class OpOptions:
    """What the sweep asks of every operator (sent to the worker as a dict)."""

    compile: bool = False
    compile_samples: int = 4  # samples run under torch.compile (each shape compiles)
    time: bool = False  # quick timing of the first sample with the Rust sampler
    progress_file: str | None = None  # the worker writes the sample index in flight here

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> OpOptions:
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in values.items() if k in known})


@dataclass
class Tally:
    """What the samples of one (operator, dtype) showed so far."""

    total: int = 0
    runs: list[SampleRun] = field(default_factory=list)
    unsupported: list[tuple[int, str]] = field(default_factory=list)
    errors: list[tuple[int, str]] = field(default_factory=list)
    columns: dict[str, Any] = field(default_factory=dict)
    mismatches: list[tuple[int, str, bool]] = field(default_factory=list)  # index, why, NaN/Inf
    nondeterministic: list[int] = field(default_factory=list)
    no_reference: int = 0
    random: bool = False
    undefined: bool = False  # an operator of UNDEFINED_OUTPUT
    unique: tuple[int, ...] | None = None  # UNIQUE_OUTPUTS of the operator
    reseeds: bool = False  # OpInfo's wrapper seeds the generator itself (opinfo.reseeds_itself)
    random_samples: int = 0  # samples of such an operator that disagreed: not compared

    def kept(self, outputs: list[torch.Tensor]) -> list[torch.Tensor]:
        """The outputs that are compared and fingerprinted."""
        return outputs if self.unique is None else [outputs[i] for i in self.unique
                                                    if i < len(outputs)]


def _classify(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {str(exc).splitlines()[0][:300] if str(exc) else ''}"


def _run_sample(fn: Callable[..., Any], info: Any, dtype: torch.dtype, index: int, sample: Any,
                device: Device, tally: Tally) -> None:
    """Steps 1-4 of the module docstring for one sample; the findings go into ``tally``."""
    here = device.torch_device
    if tally.undefined:
        try:
            tally.runs.append(SampleRun(index, sample, leaves(call(fn, moved(sample, here),
                                                                   device)), None))
        except Exception as exc:
            (tally.unsupported if is_unsupported(exc) else tally.errors).append(
                (index, _classify(exc)))
        return
    try:
        outs = leaves(call(fn, moved(sample, here), device))
        again = leaves(call(fn, moved(sample, here), device))
        other = not tally.runs and _follows_seed(fn, sample, here, device, tally, outs, 1)
    except Exception as exc:
        (tally.unsupported if is_unsupported(exc) else tally.errors).append(
            (index, _classify(exc)))
        return
    repeats = same_bits(outs, again)
    if not repeats:
        tally.nondeterministic.append(index)
    if other:  # the first sample that runs follows the seed: a random operator
        tally.random = repeats
    refs: list[torch.Tensor] | None = None
    if not tally.random:
        try:
            cpu = torch.device("cpu")
            refs = leaves(call(info.op, moved(sample, cpu, torch.float64, dtype), device))
        except Exception:
            tally.no_reference += 1
    outs = tally.kept(outs)
    refs = None if refs is None else tally.kept(refs)
    tally.runs.append(SampleRun(index, sample, outs, refs))
    if refs is not None:
        columns, why, nan_inf = compare_outputs(outs, refs, longest_dim(sample))
        if why and repeats and tally.reseeds:  # random or wrong: no telling, so not compared
            tally.random_samples += 1
            tally.runs[-1].reference = None
            return
        if why and repeats and _follows_seed(fn, sample, here, device, tally, outs, 3):
            tally.random = True  # the output follows the seed: no reference applies
            tally.runs[-1].reference = None
            return
        for c in columns:
            merge_columns(tally.columns, c)
        if why:
            tally.mismatches.append((index, why, nan_inf))


def _follows_seed(fn: Callable[..., Any], sample: Any, here: torch.device, device: Device,
                  tally: Tally, outs: list[torch.Tensor], tries: int) -> bool:
    """Does another seed change the output (a random operator)? A mismatch asks with three
    seeds, since a few random draws (bernoulli of 3 elements) can repeat by chance."""
    for seed in range(SEED + 1, SEED + 1 + tries):
        if not same_bits(tally.kept(outs), tally.kept(leaves(call(fn, moved(sample, here),
                                                                   device, seed=seed)))):
            return True
    return False


def _status(tally: Tally) -> tuple[Status, str | None]:
    """The row's status and reason (see the module docstring)."""
    if tally.errors:
        i, why = tally.errors[0]
        return Status.ERROR, f"sample {i}: {why} ({len(tally.errors)} of {tally.total} samples)"
    if not tally.runs:
        why = tally.unsupported[0][1] if tally.unsupported else "no sample inputs"
        return Status.UNSUPPORTED, why
    note = (f"; {len(tally.unsupported)} of {tally.total} samples unsupported: "
            f"{tally.unsupported[0][1]}" if tally.unsupported else "")
    if tally.mismatches:
        i, why, _ = tally.mismatches[0]
        return Status.MISMATCH, f"sample {i}: {why} ({len(tally.mismatches)} samples){note}"
    return Status.OK, note[2:] or None


def _fingerprint(case: Case, tally: Tally, outputs: list[list[torch.Tensor]]
                 ) -> tuple[dict[str, Any] | None, str | None]:
    """One fingerprint of the outputs of every sample, concatenated (in the swept dtype
    when every output has it, else as float64)."""
    parts = [real(t).reshape(-1).cpu() for outs in outputs for t in outs]
    if tally.random or tally.random_samples or tally.undefined or not sum(
            t.numel() for t in parts):
        return None, None
    dtype = torch_dtype(case.dtype)
    if any(t.dtype != dtype for t in parts):
        dtype = torch.float64
    flat = torch.cat([t.to(dtype) for t in parts])
    record, fp = _fingerprint_record(case, flat)
    name = {v: k for k, v in DTYPES.items()}[dtype]
    tol = tolerance_for(name)
    record.update(dtype=name, rtol=tol.rtol, atol=tol.atol)
    return record, fp.hash_hex


def _defects(case: Case, tally: Tally, device: Device) -> list[dict[str, Any]]:
    """The first sample of each kind of defect, with its reproduction."""
    found: list[tuple[Defect, int, str]] = []
    mism = [m for m in tally.mismatches if not m[2]]
    nan_inf = [m for m in tally.mismatches if m[2]]
    if mism:
        found.append((Defect.MISMATCH, mism[0][0], mism[0][1]))
    if nan_inf:
        found.append((Defect.NAN_INF, nan_inf[0][0], nan_inf[0][1]))
    if tally.nondeterministic:
        i = tally.nondeterministic[0]
        found.append((Defect.NONDETERMINISTIC, i, f"{len(tally.nondeterministic)} samples "
                      "differ bitwise between two runs on the same inputs"))
    return [defect_record(case.case, case.dtype, kind, i, why, device.spec)
            for kind, i, why in found]


def _mark(fd: int | None, index: int) -> None:
    """Write the sample index in flight where the parent finds it after a crash or hang."""
    if fd is not None:
        os.pwrite(fd, f"{index:<12d}".encode(), 0)


def _samples(info: Any, dtype: torch.dtype) -> list[Any]:
    return list(info.sample_inputs("cpu", dtype, requires_grad=False))


def run_op(case: Case, device: Device, options: OpOptions, run_id: str) -> Outcome:
    """Every sample of ``case.case`` (an OpInfo full name) in ``case.dtype`` on ``device``."""
    started = time.perf_counter()
    row = base_row(case, device, run_id)
    info = opinfo.lookup(case.case)
    dtype = torch_dtype(case.dtype)
    tally = Tally(undefined=case.case in UNDEFINED_OUTPUT, unique=UNIQUE_OUTPUTS.get(case.case),
                  reseeds=opinfo.reseeds_itself(info))
    try:
        samples = _samples(info, dtype)
    except Exception as exc:
        kind = Status.UNSUPPORTED if is_unsupported(exc) else Status.ERROR
        row.update(status=kind, error=f"sample inputs: {_classify(exc)}",
                   wall_s=time.perf_counter() - started)
        return Outcome(row, {})
    tally.total = len(samples)
    fn = inject.wrap(case.case, info.op)
    path = options.progress_file
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644) if path else None
    try:
        for index, sample in enumerate(samples):
            _mark(fd, index)
            _run_sample(fn, info, dtype, index, sample, device, tally)
    finally:
        if fd is not None:
            os.close(fd)
    return _finish(case, device, options, row, tally, fn, started)


def _finish(case: Case, device: Device, options: OpOptions, row: dict[str, Any], tally: Tally,
            fn: Callable[..., Any], started: float) -> Outcome:
    status, why = _status(tally)
    columns = dict(tally.columns)
    ulp_sum = columns.pop("_ulp_sum", None)
    if ulp_sum is not None and columns.get("ref_elements"):
        columns["ulp_mean"] = ulp_sum / columns["ref_elements"]
    flags = [Flag.RANDOM] if tally.random or tally.random_samples else []
    if tally.undefined:
        flags.append(Flag.UNDEFINED_OUTPUT)
    if tally.no_reference:
        flags.append(Flag.NO_REFERENCE)
    if tally.mismatches:
        flags.append(Flag.REFERENCE_MISMATCH)
    row.update(columns, status=status, error=why, samples_total=tally.total,
               samples_run=len(tally.runs), params=f"samples={tally.total}",
               deterministic=None if not tally.runs or tally.undefined
               else not tally.nondeterministic)
    defects = _defects(case, tally, device)
    outputs = [r.outputs for r in tally.runs]
    samples: dict[str, Any] = {}
    if options.compile and tally.runs:
        extra, compiled, found = compile_columns(case, fn, tally.runs, device,
                                                 options.compile_samples, tally.kept,
                                                 tally.random or tally.random_samples > 0)
        row.update(extra)
        defects += found
        outputs = compiled  # a --compile sweep fingerprints the compiled outputs
    if options.time and tally.runs:
        timed, seconds = time_sample(fn, moved(tally.runs[0].sample, device.torch_device),
                                     device)
        row.update(timed)
        samples["seconds"] = seconds
    record, hash_hex = _fingerprint(case, tally, outputs)
    if record is not None:
        samples["fingerprint"] = record
        row["fingerprint"] = hash_hex
    row.update(flags=join_flags(flags), suspect=False, defects=len(defects),
               defect_kinds=",".join(d["kind"] for d in defects) or None,
               wall_s=time.perf_counter() - started)
    samples["defects"] = defects
    return Outcome(row, samples)
