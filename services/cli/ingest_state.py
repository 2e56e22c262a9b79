"""`facegate ingest`'s local state: which photos went out in which job, so that a run stopped
half-way (Ctrl-C, a lost connection, a closed laptop) resumes without uploading them again.

One JSON file per (server, group, source), rewritten whole and replaced atomically after each
accepted job, so a run killed at any point leaves either the old state or the new one.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

STATE_VERSION = 1


def default_state_path(base_url: str, group: str, source: Path) -> Path:
    root = Path(os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state")
    ident = hashlib.sha256(f"{base_url}|{group}|{source.resolve()}".encode()).hexdigest()[:16]
    return root / "facegate" / f"ingest-{group[:40]}-{ident}.json"


def item_id(name: str, size: int, mtime_ns: int) -> str:
    """A photo as last seen: a file changed since is sent again."""
    return f"{name}|{size}|{mtime_ns}"


@dataclass
class IngestState:
    path: Path
    jobs: dict[str, list[str]] = field(default_factory=dict)  # job id -> the items it carries

    @classmethod
    def load(cls, path: Path) -> IngestState:
        if not path.is_file():
            return cls(path)
        try:
            saved = json.loads(path.read_text())
            jobs = saved["jobs"] if saved.get("version") == STATE_VERSION else {}
            jobs = {str(k): [str(i) for i in v] for k, v in jobs.items()}
        except (ValueError, KeyError, TypeError, AttributeError):
            jobs = {}  # an unreadable state costs a re-upload, never a wrong skip
        return cls(path, jobs)

    def submitted(self) -> set[str]:
        return {item for items in self.jobs.values() for item in items}

    def record(self, job_id: str, items: list[str]) -> None:
        self.jobs[job_id] = items
        self.save()

    def forget(self, job_id: str) -> None:
        self.jobs.pop(job_id, None)
        self.save()

    def save(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        handle, partial = tempfile.mkstemp(dir=self.path.parent, suffix=".tmp")
        with os.fdopen(handle, "w") as out:
            out.write(json.dumps({"version": STATE_VERSION, "jobs": self.jobs}))
        os.replace(partial, self.path)
