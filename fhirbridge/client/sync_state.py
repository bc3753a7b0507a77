"""What the last sync of one child's plan between two servers saw: a small JSON file per (source, target, patient).

For each copied resource it records the target resource it was written to and the target's
``versionId``/``lastUpdated`` after the sync. A target version that differs at the next sync means
someone else changed the copy in between.
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class SyncedResource:
    target: str  # Type/id on the target
    version_id: str
    last_updated: str | None = None
    source_version_id: str | None = None


@dataclass
class SyncState:
    path: Path
    source: str
    target: str
    patient: str
    resources: dict[str, SyncedResource] = field(default_factory=dict)  # keyed by the source's Type/id

    def save(self) -> None:
        """Write atomically (a crash leaves the old state or the new one, never half of one)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        document = {
            "source": self.source,
            "target": self.target,
            "patient": self.patient,
            "resources": {key: asdict(synced) for key, synced in sorted(self.resources.items())},
        }
        fd, temporary = tempfile.mkstemp(dir=self.path.parent, prefix=".sync-", suffix=".json")
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as out:
                json.dump(document, out, indent=2)
            os.replace(temporary, self.path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def default_state_dir() -> Path:
    configured = os.environ.get("FHIRBRIDGE_STATE_DIR")
    if configured:
        return Path(configured)
    base = os.environ.get("XDG_STATE_HOME") or Path.home() / ".local" / "state"
    return Path(base) / "fhirbridge" / "sync"


def state_path(state_dir: Path, source: str, target: str, patient: str) -> Path:
    key = json.dumps([source.rstrip("/"), target.rstrip("/"), patient])
    return state_dir / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def load_state(state_dir: Path, source: str, target: str, patient: str) -> SyncState:
    """The state of the last sync, or an empty one before the first."""
    path = state_path(state_dir, source, target, patient)
    state = SyncState(path, source.rstrip("/"), target.rstrip("/"), patient)
    if path.exists():
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
            state.resources = {key: SyncedResource(**value) for key, value in document["resources"].items()}
        except (ValueError, TypeError, KeyError, AttributeError) as exc:
            raise ValueError(f"{path} is not a readable sync state ({exc}); move it away to start afresh") from exc
    return state


__all__ = ["SyncState", "SyncedResource", "default_state_dir", "load_state", "state_path"]
