"""Numerical agreement: dtype tolerances (torch-free), tensor views and the per-case checks.

:mod:`~accelbench.numerics.tolerance` imports no torch (the read side uses it);
:mod:`~accelbench.numerics.tensors` and :mod:`~accelbench.numerics.checks` do.
"""
