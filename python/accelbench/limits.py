"""Upper bounds of the numeric settings, defined once for the CLI flags and suite files.

Beyond these a value is a typo, not a plan: a week of seconds per case, a
relative CI above 100%, ten million samples. Every bound is finite, so
``inf`` (which TOML and ``float()`` both accept) and ``nan`` are refused
before a run directory exists. This module imports nothing.
"""

from __future__ import annotations

__all__ = ["MAX_GIB", "MAX_RANKS", "MAX_RESAMPLES", "MAX_THREADS", "SETTING_LIMITS", "WEEK_S"]

#: seconds: any time budget or timeout
WEEK_S = 7 * 24 * 3600.0
#: GiB: ``--max-memory`` (1 PiB; RLIMIT_AS is a 64-bit byte count)
MAX_GIB = 2.0**20
MAX_THREADS = 4096
MAX_RESAMPLES = 10**7
#: a syntactic bound of ``--world-size``; the machine's own limit is checked with the device
MAX_RANKS = 1 << 20

#: The settings a suite file may set, with their upper bounds (the same as the CLI flags').
SETTING_LIMITS: dict[str, float] = {
    "warmup": WEEK_S,
    "max_case_time": WEEK_S,
    "target_rel_ci": 1.0,
    "min_samples": 1e7,
    "rounds": 1000,
}
