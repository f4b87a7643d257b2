"""Defects on purpose: prove that the sweep catches each kind, in the op that has it.

``ACCELBENCH_OPS_INJECT="add=scale,mul=nan,sub=segv,div=hang"`` makes the
named operators misbehave in the worker (never their float64 reference):
``scale`` multiplies floating outputs by 1.01, ``nan`` writes NaN into the
first element, ``noise`` perturbs the last bit on every other call
(nondeterminism), ``segv`` kills the worker with SIGSEGV, ``hang`` sleeps
forever. Used by the test suite; unset, nothing is wrapped.
"""

from __future__ import annotations

import itertools
import os
import signal
import time
from collections.abc import Callable
from typing import Any

import torch
from torch.utils import _pytree

__all__ = ["INJECT_ENV", "KINDS", "wrap"]

INJECT_ENV = "ACCELBENCH_OPS_INJECT"
KINDS = ("scale", "nan", "noise", "segv", "hang")


def _spec() -> dict[str, str]:
    text = os.environ.get(INJECT_ENV, "")
    pairs = (item.split("=", 1) for item in text.split(",") if "=" in item)
    return {op.strip(): kind.strip() for op, kind in pairs if kind.strip() in KINDS}


def _spoil(t: Any, kind: str, odd: bool) -> Any:
    if not isinstance(t, torch.Tensor) or not t.is_floating_point() or t.numel() == 0:
        return t
    if kind == "scale":
        return t * 1.01
    out = t.clone()
    if kind == "nan":
        out.view(-1)[0] = float("nan")
    elif kind == "noise" and odd:
        out.view(-1)[0] = torch.nextafter(out.view(-1)[0], out.new_tensor(float("inf")))
    return out


def wrap(op: str, fn: Callable[..., Any]) -> Callable[..., Any]:
    """``fn``, or ``fn`` with the defect that :data:`INJECT_ENV` names for ``op``."""
    kind = _spec().get(op)
    if kind is None:
        return fn
    calls = itertools.count()

    def injected(*args: Any, **kwargs: Any) -> Any:
        if kind == "segv":
            os.kill(os.getpid(), signal.SIGSEGV)
        while kind == "hang":
            time.sleep(60)
        out = fn(*args, **kwargs)
        odd = next(calls) % 2 == 1
        return _pytree.tree_map(lambda t: _spoil(t, kind, odd), out)

    return injected
