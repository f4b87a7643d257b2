"""Fleet mode: every rank of a world runs the same cases at once, and the odd one is named.

* :mod:`~accelbench.fleet.verdict`: the statistics (``fleet_ratio`` with a
  bootstrap CI, slow / late / wrong flags); no torch.
* :mod:`~accelbench.fleet.rank`: what each rank does for one case (barrier,
  measure, monitored barrier, gather).
* :mod:`~accelbench.fleet.world`: running the cases in a local world we
  spawn or in the torchrun/Slurm world we are in, and the rows made of them.
* ``python -m accelbench.fleet``: one rank process of a local fleet world.

This package's ``__init__`` imports nothing, so a rank process can arm its
parent-death signal before PyTorch loads.
"""
