"""Durable storage for the embedded API: a snapshot plus an fsync'd append-only journal.

Every acknowledged write is appended and fsync'd before the response is sent. On start the
snapshot is loaded, the journal replayed, and both are folded into a fresh snapshot.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from kubesim.registry import deepjson

log = logging.getLogger(__name__)

SNAPSHOT = "snapshot.json"
JOURNAL = "journal.jsonl"

StoredObject = tuple[tuple[str, str], dict[str, Any]]


class Journal:
    def __init__(self, data_dir: str | os.PathLike[str], *, fsync: bool = True) -> None:
        self.dir = Path(data_dir)
        self.dir.mkdir(parents=True, exist_ok=True)
        self.fsync = fsync
        self._file: IO[str] | None = None

    def load(self) -> tuple[int, list[StoredObject]]:
        """The last resourceVersion and every stored object, from snapshot + journal."""
        rv = 0
        objects: dict[tuple[str, str, str, str], StoredObject] = {}
        snap = self.dir / SNAPSHOT
        if snap.exists():
            data = deepjson.loads(snap.read_text(), max_depth=None)
            rv = data["rv"]
            for group, plural, obj in data["objects"]:
                meta = obj["metadata"]
                objects[(group, plural, meta.get("namespace") or "", meta["name"])] = (
                    (group, plural),
                    obj,
                )
        journal = self.dir / JOURNAL
        if journal.exists():
            with journal.open() as f:
                for lineno, line in enumerate(f, 1):
                    try:
                        rec = deepjson.loads(line, max_depth=None)
                    except json.JSONDecodeError:
                        # Only the last line can be torn (a crash mid-append); it was never acked.
                        log.warning("ignoring torn journal line %d in %s", lineno, journal)
                        continue
                    group, plural = rec["key"]
                    if rec["op"] == "put":
                        meta = rec["obj"]["metadata"]
                        ident = (group, plural, meta.get("namespace") or "", meta["name"])
                        objects[ident] = ((group, plural), rec["obj"])
                    else:
                        objects.pop((group, plural, rec["ns"] or "", rec["name"]), None)
                    rv = max(rv, rec["rv"])
        return rv, list(objects.values())

    def append(self, record: dict[str, Any]) -> None:
        if self._file is None:
            self._file = (self.dir / JOURNAL).open("a")
        self._file.write(deepjson.dumps(record) + "\n")
        self._file.flush()
        if self.fsync:
            os.fsync(self._file.fileno())

    def compact(self, rv: int, objects: Iterable[StoredObject]) -> None:
        """Write everything to a new snapshot atomically, then start an empty journal."""
        tmp = self.dir / (SNAPSHOT + ".tmp")
        with tmp.open("w") as f:
            f.write(
                deepjson.dumps({"rv": rv, "objects": [[k[0], k[1], obj] for k, obj in objects]})
            )
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.dir / SNAPSHOT)
        self._fsync_dir()
        if self._file is not None:
            self._file.close()
        self._file = (self.dir / JOURNAL).open("w")
        self._fsync_dir()

    def _fsync_dir(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
