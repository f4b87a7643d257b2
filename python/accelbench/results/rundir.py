"""The run directory and the result tables.

Layout of a run (``runs/<UTC timestamp>-<device slug>/``)::

    meta.json            device, host, software, git revision, settings
    events.jsonl         append-only log, one JSON object per line, flushed and
                         fsync'ed as each case ends: the source of truth
    results.parquet/csv  one row per case (written atomically at the end)
    samples.parquet      raw samples, one row per sample
    fingerprints.parquet output fingerprints (when numerics are checked): one row
                         per case with the output hash and 32 sampled elements
                         (bits and values); the case event carries it under
                         ``samples["fingerprint"]``

Because every finished case is in ``events.jsonl`` with its row and raw
samples, a killed run loses at most the case in flight, and the tables can be
rebuilt from the log (:func:`load` does so when ``results.parquet`` is
missing). Tables are written to a temporary name and renamed into place
(:mod:`accelbench.results.atomic`).
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import pandas as pd

from accelbench.errors import UsageError
from accelbench.kinds import Event
from accelbench.results import atomic
from accelbench.results.schema import fingerprints_frame, results_frame, samples_frame

__all__ = ["LOCAL_PATH_OPTIONS", "Annotate", "RunDir", "read_meta", "shareable_command"]

#: Adds derived columns to a results table before it is written (the roofline annotation).
Annotate = Callable[[pd.DataFrame], pd.DataFrame]


def _utc_stamp() -> str:
    return datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%SZ")


def _clean(value: Any) -> Any:
    """JSON-safe value: NaN/inf become None (JSON has neither)."""
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


class RunDir:
    """A run directory being written (or resumed)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.run_id = path.name

    # -- creation ---------------------------------------------------------
    @classmethod
    def create(cls, out_dir: Path, device_slug: str) -> RunDir:
        out_dir.mkdir(parents=True, exist_ok=True)
        base = f"{_utc_stamp()}-{device_slug}"
        for i in range(1000):
            path = out_dir / (base if i == 0 else f"{base}-{i}")
            try:
                path.mkdir()
            except FileExistsError:
                continue
            return cls(path)
        raise UsageError(f"{out_dir}: cannot create a run directory")

    @classmethod
    def open(cls, path: Path) -> RunDir:
        if not (path / "meta.json").is_file():
            raise UsageError(f"{path}: not a run directory (no meta.json)")
        run = cls(path)
        run._end_torn_line()
        return run

    def _end_torn_line(self) -> None:
        """A run killed mid-write leaves a partial last line: close it so appends stay parseable."""
        if not self.events_path.exists() or self.events_path.stat().st_size == 0:
            return
        with self.events_path.open("rb+") as fh:
            fh.seek(-1, os.SEEK_END)
            if fh.read(1) != b"\n":
                fh.write(b"\n")

    # -- files --------------------------------------------------------------
    @property
    def events_path(self) -> Path:
        return self.path / "events.jsonl"

    def write_meta(self, meta: Mapping[str, Any]) -> None:
        text = json.dumps(meta, indent=2, sort_keys=True, default=str)
        atomic.write_bytes(self.path / "meta.json", text.encode())

    def read_meta(self) -> dict[str, Any]:
        return read_meta(self.path)

    def append_event(self, event: Mapping[str, Any]) -> None:
        """Append one event and force it to disk before returning."""
        record = {"time": datetime.now(timezone.utc).isoformat(), **event}
        line = json.dumps(record, default=_clean, allow_nan=False, separators=(",", ":"))
        with self.events_path.open("a", encoding="utf-8") as fh:
            fh.write(line + "\n")
            fh.flush()
            os.fsync(fh.fileno())

    def events(self) -> Iterator[dict[str, Any]]:
        """Events in order; a torn last line (killed mid-write) is skipped."""
        if not self.events_path.exists():
            return
        with self.events_path.open(encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if not line:
                    continue
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def case_events(self) -> dict[str, dict[str, Any]]:
        """The last finished-case event per case key, in the suite's order.

        A run of several rounds finishes its cases in shuffled order; the
        ``start`` event lists the suite's keys, which order the tables.
        """
        done: dict[str, dict[str, Any]] = {}
        order: list[str] = []
        for ev in self.events():
            if ev.get("event") == Event.CASE:
                done[ev["key"]] = ev
            elif ev.get("event") == Event.START and isinstance(ev.get("keys"), list):
                order = ev["keys"]
        rank = {k: i for i, k in enumerate(order)}
        return dict(sorted(done.items(), key=lambda kv: rank.get(kv[0], len(rank))))

    def round_events(self) -> dict[str, dict[int, dict[str, Any]]]:
        """Per case key, the finished rounds' events by round index (runs of several rounds)."""
        rounds: dict[str, dict[int, dict[str, Any]]] = {}
        for ev in self.events():
            if ev.get("event") == Event.ROUND:
                rounds.setdefault(ev["key"], {})[int(ev["round"])] = ev
        return rounds

    def record_case(self, key: str, row: Mapping[str, Any], samples: Mapping[str, Any]) -> None:
        safe_row = {k: _clean(v) for k, v in row.items()}
        self.append_event({"event": Event.CASE, "key": key, "row": safe_row, "samples": samples})

    def record_round(self, key: str, index: int, row: Mapping[str, Any],
                     samples: Mapping[str, Any]) -> None:
        """One finished round of a case (the case event follows after its last round)."""
        safe_row = {k: _clean(v) for k, v in row.items()}
        self.append_event({"event": Event.ROUND, "key": key, "round": index, "row": safe_row,
                           "samples": samples})

    # -- tables ------------------------------------------------------------
    def finalize(self, annotate: Annotate | None = None) -> pd.DataFrame:
        """Rebuild every table from the event log and write them atomically.

        ``annotate`` adds derived columns (the roofline's peaks) to the
        results table; the caller, which knows the analysis, passes it.
        """
        done = self.case_events()
        frame = results_frame([ev["row"] for ev in done.values()])
        if annotate is not None:
            frame = annotate(frame)
        atomic.write_frame(self.path / "results.parquet", frame)
        atomic.write_frame(self.path / "results.csv", frame)
        atomic.write_frame(self.path / "samples.parquet", samples_frame(done.values()))
        atomic.write_frame(self.path / "fingerprints.parquet", fingerprints_frame(done.values()))
        return frame


#: Options whose value is a place on the machine that ran the command, not part of what ran.
LOCAL_PATH_OPTIONS = ("--out", "--results")


def shareable_command(argv: Sequence[str]) -> list[str]:
    """``argv`` as a run records it for others: without :data:`LOCAL_PATH_OPTIONS` and their
    values (where the output went on that machine changes no figure)."""
    out: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg in LOCAL_PATH_OPTIONS:
            skip = True
        elif not arg.startswith(tuple(f"{o}=" for o in LOCAL_PATH_OPTIONS)):
            out.append(arg)
    return out


def read_meta(path: Path) -> dict[str, Any]:
    """The ``meta.json`` of a run directory; a one-line UsageError when absent or unreadable."""
    try:
        data: dict[str, Any] = json.loads((path / "meta.json").read_text())
    except FileNotFoundError:
        raise UsageError(f"{path}: not a run directory (no meta.json)") from None
    except (OSError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}/meta.json: unreadable: {exc}") from None
    return data
