"""The closed vocabularies of accelbench, defined once: statuses, events, cache states, ...

Each is a ``str`` enum, so a member *is* its text: rows stay JSON- and
parquet-friendly, ``row["status"] == Status.OK`` holds for a row read back
from disk, and the text in the run directory never changes. This module
imports nothing (every layer may use it).
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "FAILED",
    "SUSPECT_FLAGS",
    "Agreement",
    "CIMethod",
    "CacheState",
    "Defect",
    "Event",
    "Flag",
    "Launcher",
    "OpVerdict",
    "Routing",
    "Status",
    "StopReason",
    "TimingMethod",
    "Verdict",
    "join_flags",
    "split_flags",
]


class _Text(str, Enum):
    """A str enum whose ``str()`` and format are its value (as StrEnum in 3.11+)."""

    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, spec: str) -> str:
        return format(str(self.value), spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        return tuple(m.value for m in cls)


class Status(_Text):
    """Outcome of one case (the ``status`` column)."""

    OK = "ok"
    UNSUPPORTED = "unsupported"
    ERROR = "error"
    CRASH = "crash"
    TIMEOUT = "timeout"
    MISMATCH = "mismatch"
    #: torch.compile failed on the case's function (the error says why)
    COMPILE_ERROR = "compile_error"


#: Statuses that make ``accelbench run`` exit 1.
FAILED: frozenset[Status] = frozenset(
    {Status.ERROR, Status.CRASH, Status.TIMEOUT, Status.MISMATCH, Status.COMPILE_ERROR})


class Defect(_Text):
    """Kinds of defect an operator sweep lists (``accelbench ops``: ``defects.json``)."""

    CRASH = "crash"  # the worker died in the operator (signal or exit)
    HANG = "hang"  # no answer within --op-timeout; the worker was killed
    MISMATCH = "mismatch"  # outside the dtype tolerance of the float64 reference
    NAN_INF = "nan_inf"  # NaN or Inf where the reference has a number, or the reverse
    NONDETERMINISTIC = "nondeterministic"  # a rerun on the same inputs differs bitwise
    COMPILE_FAILURE = "compile_failure"  # eager works, torch.compile raises
    COMPILE_MISMATCH = "compile_mismatch"  # compiled output outside tolerance of eager


class Event(_Text):
    """Kinds of record in ``events.jsonl`` (the ``event`` field)."""

    START = "start"  # an attempt of the run begins
    CASE_START = "case_start"  # a case begins (no matching CASE: the process died in it)
    CASE = "case"  # a case ended: its row and samples
    ROUND = "round"  # one round of a case ended (runs of several rounds): its row and samples
    CASE_ABORT = "case_abort"  # a case was stopped by Ctrl-C (not a death)
    END = "end"  # the attempt ended normally


class CacheState(_Text):
    """``--cache``: warm (back-to-back launches) or cold (last-level cache flushed before each)."""

    WARM = "warm"
    COLD = "cold"


class TimingMethod(_Text):
    """How a case's time was taken (the ``timing_method`` column)."""

    HOST_MONOTONIC = "host-monotonic"
    HOST_MONOTONIC_PER_ITER = "host-monotonic-per-iter"
    HOST_SYNCHRONIZED = "host-synchronized"
    DEVICE_EVENTS = "device-events"
    DEVICE_EVENTS_PER_ITER = "device-events-per-iter"
    GRAPH_EVENTS = "graph-events"


class StopReason(_Text):
    """Why sampling stopped (the ``stop_reason`` column)."""

    CONVERGED = "converged"
    TIME_BUDGET = "time_budget"
    MAX_SAMPLES = "max_samples"
    SUSTAIN = "sustain"
    #: each round met the target but the run's interval (the rounds' disagreement, the
    #: machine's drift) does not
    UNSTABLE = "unstable"


class CIMethod(_Text):
    """How the confidence interval of the median was obtained (the ``ci_method`` column)."""

    #: two-level bootstrap over the rounds of the case (a run that ended before its cases
    #: were pooled, or a run whose cases are too few to pool)
    ROUNDS_BOOTSTRAP = "rounds-bootstrap"
    #: the variance of the round medians pooled over the run's cases; the machine's
    #: between-run drift unmeasured (no ``accelbench calibrate``, no ``--drift``)
    ROUNDS_POOLED = "rounds-pooled"
    #: as rounds-pooled, plus the machine's measured drift between runs
    ROUNDS_DRIFT = "rounds-pooled+drift"
    #: as rounds-pooled+drift, and the interval also spans the case's usual median in this
    #: machine's history of runs (so that a run in a slow or fast episode covers a rerun)
    ROUNDS_HISTORY = "rounds-pooled+drift+history"
    #: exact distribution-free interval from order statistics of one round's samples
    ORDER_STATISTICS = "order-statistics"
    #: fewer than 6 samples in one round: (min, max), below the nominal confidence
    MIN_MAX = "min-max"


class Flag(_Text):
    """Findings of the numerical checks (the comma-separated ``flags`` column)."""

    REFERENCE_MISMATCH = "reference_mismatch"
    CONSTANT_OUTPUT = "constant_output"
    INPUT_INSENSITIVE = "input_insensitive"
    ABOVE_PEAK = "above_peak"
    NO_OUTPUT = "no_output"
    NO_REFERENCE = "no_reference"
    #: the output changes with the random seed (dropout, sampling): no reference applies
    RANDOM = "random"
    #: the output is uninitialised memory by contract (``empty``): only its shape is checked
    UNDEFINED_OUTPUT = "undefined_output"


#: Flags that make a result suspect (the others are informational).
SUSPECT_FLAGS: frozenset[Flag] = frozenset(
    {Flag.REFERENCE_MISMATCH, Flag.CONSTANT_OUTPUT, Flag.INPUT_INSENSITIVE, Flag.ABOVE_PEAK})


def join_flags(flags: list[Flag]) -> str:
    """The ``flags`` column's text ("" when there is none)."""
    return ",".join(dict.fromkeys(f.value for f in flags))


def split_flags(text: object) -> list[Flag]:
    """Flags from a ``flags`` cell (unknown names are ignored: newer runs may add some)."""
    if not isinstance(text, str):
        return []
    known = set(Flag.values())
    return [Flag(t) for t in text.split(",") if t in known]


class Verdict(_Text):
    """A/B verdict of one case (``accelbench compare``); the Rust core returns its text."""

    FASTER = "faster"
    SLOWER = "slower"
    NO_CHANGE = "no change"


class Agreement(_Text):
    """Consistency class of a case against the baseline run (``accelbench consistency``)."""

    BITWISE = "bitwise"
    WITHIN_TOLERANCE = "within_tolerance"
    DISCREPANT = "discrepant"


class Launcher(_Text):
    """Who started the world a rank runs in."""

    TORCHRUN = "torchrun"
    SLURM = "slurm"
    LOCAL = "local"


class Routing(_Text):
    """How the tokens of an MoE layer are spread over its experts (``moe``, ``all_to_allv``).

    ``balanced``: every expert gets the same number of token slots (within one);
    ``skewed``: a few hot experts get most of them (Zipf s=1.2 over a seeded
    order of the experts). See :mod:`accelbench.workloads.routing`.
    """

    BALANCED = "balanced"
    SKEWED = "skewed"
class OpVerdict(_Text):
    """Two-sided verdict of one (operator, dtype) against a baseline device (``ops --baseline``)."""

    AGREES = "agrees"  # within tolerance of the float64 reference
    SHARED = "shared_error"  # outside it, but the baseline device errs about as much
    WORSE = "worse"  # outside it, and clearly worse than the baseline device
    MISSING = "missing"  # not supported here, supported on the baseline device
    FAILS = "fails"  # error, crash or timeout here
    NOT_COMPARED = "not_compared"  # unsupported on both, or absent from the baseline
