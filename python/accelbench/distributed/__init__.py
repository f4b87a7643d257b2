"""Worlds of ranks on ``torch.distributed``: launching, joining, and measuring in them.

* :mod:`~accelbench.distributed.world`: where a process sits in a world
  (torchrun, Slurm, or a local world we spawn) and the parent's watchdog of
  a local world; no torch at import.
* :mod:`~accelbench.distributed.lead`: running the cases of a family that
  ``needs_world`` (rank 0 leads, the others follow).
* :mod:`~accelbench.distributed.rank`: what every rank does for one case,
  with the shared measurement step, and the row rank 0 makes of it.
* ``python -m accelbench.distributed``: one rank process of a local world.

This package's ``__init__`` imports nothing, so a rank process can arm its
parent-death signal before PyTorch loads.
"""
