"""OpInfo, PyTorch's operator database, as the sweep sees it (imports torch).

``op_db`` is imported once per process (it takes seconds: thousands of
sample-input functions); :func:`entries` then answers from a cache. An
operator is named by its OpInfo full name (``name`` or ``name.variant``,
e.g. ``max.reduction_with_dim``), which is unique in op_db.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch

from accelbench.errors import UsageError
from accelbench.ops.sets import ALL, OpSet, match_globs
from accelbench.workloads.base import DTYPES

__all__ = ["OpEntry", "entries", "lookup", "preload", "reseeds_itself", "select"]

_NAMES = {dtype: name for name, dtype in DTYPES.items()}


@dataclass(frozen=True)
class OpEntry:
    """What the parent needs to know of one OpInfo operator (picklable, no torch objects)."""

    key: str  # full name
    cpu_dtypes: tuple[str, ...]  # declared for CPU, in our dtype names (fp64, fp32, bf16, fp16)
    cuda_dtypes: tuple[str, ...]  # declared for CUDA: "what the reference platform supports"


def _dtype_names(dtypes: Any) -> tuple[str, ...]:
    return tuple(sorted(_NAMES[d] for d in dtypes if d in _NAMES))


@functools.lru_cache(maxsize=1)
def _db() -> dict[str, Any]:
    # importing op_db needs the ``expecttest`` package (a dependency of accelbench)
    from torch.testing._internal.common_methods_invocations import op_db

    db: dict[str, Any] = {}
    for info in op_db:
        db.setdefault(info.full_name, info)
    return db


def preload() -> None:
    """Import op_db now (a worker does it before saying it is ready)."""
    _db()


def lookup(key: str) -> Any:
    """The OpInfo called ``key``; KeyError when op_db has none."""
    return _db()[key]


def reseeds_itself(info: Any) -> bool:
    """Does the operator's OpInfo wrapper set the random seed itself (``wrapper_set_seed``,
    used for bernoulli, normal, dropout, ...)? Then it is random, though a seed change
    before the call cannot show it."""
    code = getattr(info.op, "__code__", None)
    return code is not None and "wrapper_set_seed" in code.co_names


def entries() -> list[OpEntry]:
    """Every operator of op_db, sorted by full name."""
    out = []
    for key in sorted(_db()):
        info = _db()[key]
        out.append(OpEntry(key, _dtype_names(info.supported_dtypes("cpu")),
                           _dtype_names(info.supported_dtypes("cuda"))))
    return out


def select(op_set: OpSet | None, globs: Sequence[str] | None) -> list[OpEntry]:
    """The operators of ``op_set`` (None or ``all``: every one) that match ``globs``.

    A name of a set that op_db lacks, or a glob that matches nothing, is a
    UsageError: a typo must not shrink a sweep silently.
    """
    every = entries()
    by_key = {e.key: e for e in every}
    if op_set is None or op_set.name == ALL:
        chosen = every
    else:
        missing = [op for op in op_set.ops if op not in by_key]
        if missing:
            raise UsageError(f"operator set {op_set.name!r} names operators that op_db of "
                             f"torch {torch.__version__} lacks: {', '.join(missing)}")
        chosen = [by_key[op] for op in op_set.ops]
    if globs:
        for glob in globs:
            if not match_globs([e.key for e in chosen], [glob]):
                raise UsageError(f"--ops {glob!r} matches no operator"
                                 + ("" if op_set is None else f" of the set {op_set.name!r}"))
        keep = set(match_globs([e.key for e in chosen], globs))
        chosen = [e for e in chosen if e.key in keep]
    return chosen
