"""The node's append-only, hash-chained audit log (DESIGN §8; format in ``core/audit.py``).

One JSON object per line in a file next to the node's config (``[node] audit_log``). Every
entry links to the previous one by hash, so editing, deleting or reordering entries is
detected by ``warifu audit verify``. Entries carry public data only (``core.audit`` refuses
field names that denote secrets). Written synchronously and flushed with ``fsync``: an entry is
durable before the operation it records is reported as done.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from warifu.core.audit import AuditEntry, append, verify_chain

log = logging.getLogger(__name__)


class AuditLog:
    """Appends entries to one node's audit file, continuing the chain found there."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self._path = Path(path)
        self._last: AuditEntry | None = None
        if self._path.exists():
            entries = read_entries(self._path)
            verify_chain(entries)  # refuse to extend a broken chain
            self._last = entries[-1] if entries else None

    @property
    def path(self) -> Path:
        """The file."""
        return self._path

    def record(self, kind: str, fields: Mapping[str, Any]) -> AuditEntry:
        """Append one entry and make it durable."""
        entry = append(self._last, kind, fields, int(time.time()))
        self._path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self._path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o640)
        try:
            os.write(fd, (entry.to_json() + "\n").encode())
            os.fsync(fd)
        finally:
            os.close(fd)
        self._last = entry
        return entry


def read_entries(path: Path) -> list[AuditEntry]:
    """Every entry of an audit file, in file order."""
    return [AuditEntry.from_json(line) for line in path.read_text().splitlines() if line.strip()]
