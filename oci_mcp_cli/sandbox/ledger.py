"""OAuth runtime state that outlives a restart — refresh tokens (by SHA-256 digest) and revoked
access-token ``jti``s — kept in memory and persisted as an append-only log.

Every change is one JSON line appended to ``<state dir>/oauth.log`` (0600) with a single
``write()`` on an ``O_APPEND`` descriptor: no rewrite of ``state.json``, no fsync on the token path
(the kernel has the line as soon as ``write()`` returns, so it survives the sandbox being killed;
only a power loss can lose the last lines — a sandbox's tokens are not worth an fsync per
request). On start the log is replayed and compacted (expired records dropped, spent refresh
tokens reduced to what reuse detection needs), and it is compacted again whenever it holds twice
the live records, so the file stays proportional to what is live.

Not thread-safe on its own: callers hold ``lock`` (the event loop is the only writer in practice).
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any

from oci_mcp_cli.core.files import write_private

LOG_FILE = "oauth.log"
COMPACT_MIN_LINES = 4096
# What a spent (rotated-out) refresh token keeps: enough to detect its reuse and revoke the family.
SPENT_FIELDS = ("guid", "client_id", "family", "exp", "used", "at_jti", "at_exp")


class OAuthLedger:
    def __init__(self, state_dir: Path):
        self.path = Path(state_dir) / LOG_FILE
        self.refresh: dict[str, dict[str, Any]] = {}  # digest -> record
        self.revoked: dict[str, float] = {}  # jti -> exp
        self.lock = threading.RLock()
        self._fd: int | None = None
        self._lines = 0
        self._compact_at = COMPACT_MIN_LINES

    # lifecycle
    def load(self, legacy: dict[str, Any] | None = None) -> OAuthLedger:
        """Replay the log (a torn last line is skipped), merge ``legacy`` (``state.oauth`` of an
        older sandbox), drop what expired, and rewrite the log compactly."""
        with self.lock:
            self.close()
            self.refresh.clear()
            self.revoked.clear()
            if self.path.exists():
                for line in self.path.read_bytes().splitlines():
                    try:
                        self._apply(json.loads(line))
                    except (ValueError, KeyError, TypeError):
                        continue  # a torn or foreign line: ignore it
            if legacy:
                self.refresh.update(legacy.get("refresh_tokens") or {})
                self.revoked.update(legacy.get("revoked_jtis") or {})
            self._compact()
        return self

    def close(self) -> None:
        with self.lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def reset(self) -> None:
        with self.lock:
            self.close()
            self.path.unlink(missing_ok=True)
            self.refresh.clear()
            self.revoked.clear()

    # changes (each appended to the log)
    def put_refresh(self, digest: str, record: dict[str, Any]) -> None:
        self._record({"op": "put", "k": digest, "v": record})

    def spend_refresh(self, digest: str) -> None:
        if digest in self.refresh:
            self._record({"op": "spend", "k": digest})

    def delete_refresh(self, digest: str) -> None:
        if digest in self.refresh:
            self._record({"op": "del", "k": digest})

    def revoke(self, jti: str, exp: float) -> None:
        self._record({"op": "revoke", "j": jti, "e": exp})

    # internals
    def _apply(self, entry: dict[str, Any]) -> None:
        op = entry["op"]
        if op == "put":
            self.refresh[entry["k"]] = dict(entry["v"])
        elif op == "spend":
            record = self.refresh.get(entry["k"])
            if record is not None:
                record["used"] = True
        elif op == "del":
            self.refresh.pop(entry["k"], None)
        elif op == "revoke":
            self.revoked[entry["j"]] = float(entry["e"])

    def _record(self, entry: dict[str, Any]) -> None:
        with self.lock:
            self._apply(entry)
            if self._fd is None:
                self._open()
            assert self._fd is not None
            os.write(self._fd, (json.dumps(entry, separators=(",", ":")) + "\n").encode())
            self._lines += 1
            if self._lines >= self._compact_at:
                self._compact()

    def _open(self) -> None:
        self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)

    def _compact(self) -> None:
        """Drop expired records, shrink spent ones, rewrite the log atomically (0600)."""
        now = time.time()
        self.revoked = {j: e for j, e in self.revoked.items() if now < e}
        live: dict[str, dict[str, Any]] = {}
        for digest, record in self.refresh.items():
            if now >= record.get("exp", 0):
                continue
            if record.get("used"):
                record = {k: record[k] for k in SPENT_FIELDS if k in record}
            live[digest] = record
        self.refresh = live
        lines: list[dict[str, Any]] = [{"op": "put", "k": k, "v": v} for k, v in live.items()]
        lines += [{"op": "revoke", "j": j, "e": e} for j, e in self.revoked.items()]
        self.close()
        write_private(
            self.path, "".join(json.dumps(x, separators=(",", ":")) + "\n" for x in lines)
        )
        self._open()
        self._lines = len(lines)
        self._compact_at = max(COMPACT_MIN_LINES, 2 * len(lines))
