"""Persistence of the sandbox state: ``state.json`` + PEM files in the state dir, atomic, 0600."""

from __future__ import annotations

import json
import stat
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.files import ensure_private_dir, write_private
from oci_mcp_cli.sandbox.models import SandboxState

STATE_FILE = "state.json"


def _private_state_dir(path: Path) -> Path:
    """The state dir, 0700: created so, or tightened if it is empty or already a sandbox's.

    A non-empty foreign directory that others can read is refused rather than re-permissioned
    (``--state-dir .`` must not chmod someone's project directory).
    """
    ensure_private_dir(path)
    if stat.S_IMODE(path.stat().st_mode) & 0o077:
        if (path / STATE_FILE).exists() or not any(path.iterdir()):
            path.chmod(0o700)
        else:
            raise UserError(
                f"the sandbox state dir {path} is accessible to other users and holds other files",
                hint="use a new or empty directory (it is created 0700), or chmod 700 it first",
            )
    return path


class StateStore:
    """Owns one sandbox's state. ``read()``/``mutate()`` are thread-safe; mutations persist."""

    def __init__(self, state_dir: Path):
        self.dir = _private_state_dir(Path(state_dir))
        self._lock = threading.RLock()
        self._state: SandboxState | None = None

    @property
    def path(self) -> Path:
        return self.dir / STATE_FILE

    def exists(self) -> bool:
        return self.path.exists()

    def load_or_seed(self) -> SandboxState:
        """Load the saved state (migrated to the current schema), or seed a fresh one; save."""
        from oci_mcp_cli.sandbox.seed import migrate, seed_state

        with self._lock:
            if self.exists():
                self._state = SandboxState.from_dict(json.loads(self.path.read_text("utf-8")))
                if migrate(self._state):
                    self._save()
            else:
                self._state = seed_state(self)
                self._save()
            return self._state

    @property
    def state(self) -> SandboxState:
        if self._state is None:
            return self.load_or_seed()
        return self._state

    @contextmanager
    def read(self) -> Iterator[SandboxState]:
        with self._lock:
            yield self.state

    @contextmanager
    def mutate(self) -> Iterator[SandboxState]:
        """Change the state under the lock; it is saved atomically when the block exits cleanly."""
        with self._lock:
            yield self.state
            self._save()

    def _save(self) -> None:
        assert self._state is not None
        # no sort_keys: dict order (domains: Default first) must survive a restart
        write_private(self.path, json.dumps(self._state.to_dict(), indent=1))

    def reset(self) -> None:
        """Forget everything: remove the state file and the key files (a fresh seed follows)."""
        with self._lock:
            for path in [self.path, self.dir / "oauth.log", *self.dir.glob("*.pem")]:
                path.unlink(missing_ok=True)
            self._state = None

    # Key files
    def write_secret_file(self, name: str, data: str | bytes) -> Path:
        path = self.dir / name
        write_private(path, data)
        return path

    def read_file(self, name: str) -> bytes:
        return (self.dir / name).read_bytes()
