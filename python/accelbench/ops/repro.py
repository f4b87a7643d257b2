"""A few lines of Python that reproduce a defect of the operator sweep (no torch).

The snippet rebuilds the same sample inputs the sweep used (OpInfo seeds its
sample generator itself, so ``sample_inputs`` gives bit-identical tensors on
every machine with the same PyTorch), moves them to the device, and runs the
operator beside its float64 reference on the CPU.
"""

from __future__ import annotations

from typing import Any

from accelbench.kinds import Defect

__all__ = ["defect_record", "reproduction"]

_DTYPES = {"fp64": "float64", "fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}

_HEAD = '''import torch
from torch.testing._internal.common_methods_invocations import op_db

op = next(o for o in op_db if o.full_name == {op!r})
sample = list(op.sample_inputs("cpu", torch.{dtype}))[{index}]
def on(device, cast=None):
    def move(t):
        if not isinstance(t, torch.Tensor):
            return t
        return t.to(device, cast) if cast and t.dtype == torch.{dtype} else t.to(device)
    s = sample.transform(move)
    torch.manual_seed(0)
    return op(s.input, *s.args, **s.kwargs)
'''

_BODY = {
    Defect.NONDETERMINISTIC: 'a, b = on({device!r}), on({device!r})\nprint(a, b)\n',
    Defect.COMPILE_FAILURE: 'compiled = torch.compile(op.op)\n'
                            's = sample.transform(lambda t: t.to({device!r}) '
                            'if isinstance(t, torch.Tensor) else t)\n'
                            'print(compiled(s.input, *s.args, **s.kwargs))\n',
    Defect.COMPILE_MISMATCH: 'compiled = torch.compile(op.op)\n'
                             's = sample.transform(lambda t: t.to({device!r}) '
                             'if isinstance(t, torch.Tensor) else t)\n'
                             'print(compiled(s.input, *s.args, **s.kwargs), on({device!r}))\n',
}
_DEFAULT = ('out = on({device!r})\nref = on("cpu", torch.float64)\n'
            'print(out, ref)\n')


def reproduction(op: str, dtype: str, index: int, device: str, kind: Defect) -> str:
    """Python source that runs sample ``index`` of ``op`` in ``dtype`` on ``device``."""
    head = _HEAD.format(op=op, dtype=_DTYPES.get(dtype, dtype), index=index)
    return head + _BODY.get(kind, _DEFAULT).format(device=device)


def defect_record(op: str, dtype: str, kind: Defect, index: int | None, detail: str,
                  device: str) -> dict[str, Any]:
    """One entry of ``defects.json``: what, where (sample index), and how to see it again."""
    return {"op": op, "dtype": dtype, "kind": kind.value, "sample": index, "detail": detail,
            "repro": reproduction(op, dtype, index or 0, device, kind)}
