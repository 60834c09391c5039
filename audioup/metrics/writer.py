"""The ``--json`` / ``--csv`` files of ``audioup measure``, written as records finish.

:class:`RecordWriter` appends each record to both files as it comes, so a run that is
interrupted (Ctrl-C, a kill, a crash) leaves a valid JSON list and a CSV of the records
finished so far, and a run over 10,000 files costs each record its own size only (the
JSON list used to be rewritten whole every second: quadratic in the number of files).
"""
from __future__ import annotations

import csv
import io
import json
import os
from pathlib import Path
from typing import List

from ..audio.fs import atomic_write, stream_destination
from .record import REFERENCE_KEYS

_JSON_END = b"\n]\n"  # what closes the list on disk; each record is written over it


class RecordWriter:
    """Writes records as they finish, so an interrupted run keeps what was measured.

    The JSON file is a valid list at every moment: it starts as ``[]``, and each record
    is written over the closing bracket together with a new one (``,\\n{record}\\n]``),
    in one write. CSV rows are appended likewise. Both cost one record's size per
    record. :meth:`close` rewrites both once, atomically (temporary file + rename), in
    the order of :attr:`records` (the input order, which parallel jobs do not keep).

    A write that fails (``OSError``: a full disk, a lost mount) does not stop the
    run: the file is cut back to its last complete record and no longer appended to
    (the final rewrite is still tried), and :attr:`failures` names each output with
    its error and how many records it holds.

    An output that is a stream (``/dev/stdout``, a FIFO, a device; see
    :func:`audioup.audio.fs.stream_destination`) is written once, on :meth:`close`;
    any other kind that is not a regular file is refused (``OSError``) here, before work.
    A regular file is opened without following a link (``O_NOFOLLOW``).
    """

    CSV_COLUMNS = ["path", "error", "warnings", "sample_rate", "duration_s", "hop",
                   "tonal_score_db", "null_spread_db", "tonal_max_db", "strongest_hz", "strongest_db",
                   "strongest_level_db", "active_fraction", "estimated_hop", "comb_level_db",
                   "n_detected", "detected", "excess_tonal_db", "excess_spread_db", *REFERENCE_KEYS]

    def __init__(self, json_path=None, csv_path=None):
        self.json_path = Path(json_path) if json_path else None
        self.csv_path = Path(csv_path) if csv_path else None
        self.records: List[dict] = []
        self._files: dict = {}    # output path -> open file (unbuffered), while appending
        self._size: dict = {}     # output path -> bytes of complete content on disk
        self._held: dict = {}     # output path -> records in it on disk
        self._errors: dict = {}   # output path -> the OSError of its last failed write
        self._streams = {p for p in (self.json_path, self.csv_path) if p is not None and stream_destination(p)}
        for path, start in ((self.json_path, b"[" + _JSON_END), (self.csv_path, self._csv_text_of([]))):
            if path is None or path in self._streams:
                continue
            path.parent.mkdir(parents=True, exist_ok=True)
            self._files[path] = open(path, "wb", buffering=0, opener=_no_follow)
            self._size[path], self._held[path] = 0, 0
            self._append(path, start.encode("utf-8", errors="surrogateescape") if isinstance(start, str)
                         else start, over=0)
            if path in self._errors:  # nothing measured yet: fail now
                exc = self._errors[path]
                self._close_files()
                raise OSError(exc.errno, exc.strerror, str(path))

    @property
    def failures(self) -> List[str]:
        """One message per output whose last write failed (empty when all is on disk)."""
        return [f"cannot write {path}: {exc.strerror or exc}; it holds {self._held[path]} of "
                f"{len(self.records)} records (complete)" for path, exc in self._errors.items()]

    def add(self, rec: dict) -> None:
        self.records.append(rec)
        if self.json_path in self._files:
            body = json.dumps(rec, indent=1).replace("\n", "\n ")  # as json.dumps(list, indent=1)
            data = ((",\n " if self._held[self.json_path] else "\n ") + body).encode("ascii") + _JSON_END
            if self._append(self.json_path, data, over=len(_JSON_END)):
                self._held[self.json_path] += 1
        if self.csv_path in self._files:
            if self._append(self.csv_path, self._csv_text_of([rec], header=False).encode(
                    "utf-8", errors="surrogateescape"), over=0):
                self._held[self.csv_path] += 1

    def _append(self, path: Path, data: bytes, over: int) -> bool:
        """Write ``data`` over the last ``over`` bytes of ``path``; on failure cut back and stop appending."""
        f, keep = self._files[path], self._size[path] - over
        try:
            f.seek(keep)
            view = memoryview(data)
            while view:
                view = view[f.write(view):]
            self._size[path] = keep + len(data)
            return True
        except OSError as exc:  # back to the last complete content; append no more
            self._errors[path] = exc
            try:
                f.truncate(keep)
                if over:  # the closing bytes again, in the space they held before
                    f.seek(keep)
                    f.write(data[-over:])
            except OSError:
                pass
            finally:
                f.close()
                del self._files[path]
            return False

    def _csv_text_of(self, records, header: bool = True) -> str:
        f = io.StringIO()
        w = csv.DictWriter(f, fieldnames=self.CSV_COLUMNS)
        if header:
            w.writeheader()
        w.writerows(csv_row(r) for r in records)
        return f.getvalue()

    def _close_files(self) -> None:
        for f in self._files.values():
            f.close()
        self._files.clear()

    def close(self) -> None:
        """Rewrite the JSON and the CSV atomically in the order of ``records``.

        Failures end in :attr:`failures`, not in an exception.
        """
        self._close_files()
        outputs = (
            (self.json_path, lambda: json.dumps(self.records, indent=1).encode("ascii") + b"\n"),
            (self.csv_path, lambda: self._csv_text_of(self.records).encode("utf-8", errors="surrogateescape")),
        )
        for path, content in outputs:
            if path is None:
                continue
            try:
                atomic_write(path, content())
            except OSError as exc:
                self._errors[path] = exc
            else:
                self._errors.pop(path, None)
                self._held[path] = len(self.records)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


def _no_follow(path, flags: int) -> int:
    """``open``'s opener that never writes through a symbolic link."""
    return os.open(path, flags | os.O_NOFOLLOW, 0o666)


def csv_row(rec: dict) -> dict:
    """Flat CSV row of a record."""
    row = {k: rec.get(k) for k in RecordWriter.CSV_COLUMNS if k in rec}
    row["warnings"] = "; ".join(w["message"] for w in rec.get("warnings") or [])
    top = rec["tones"][0] if rec.get("tones") else None
    row["strongest_hz"] = None if top is None else round(top["freq_hz"], 3)
    row["strongest_db"] = None if top is None else top["prominence_db"]
    row["strongest_level_db"] = None if top is None else top["level_db"]
    det = rec.get("detected") or []
    row["n_detected"] = len(det) if rec.get("error") is None else None
    row["detected"] = "; ".join(f"{d['freq_hz']:.1f} Hz {d['prominence_db']:.1f} dB" for d in det)
    return row
