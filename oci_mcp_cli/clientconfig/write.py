"""Merge one server entry into a client's JSON config: backup first, other servers untouched."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from oci_mcp_cli.clientconfig.clients import ClientSpec
from oci_mcp_cli.clientconfig.render import render_json
from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.files import ordinary_file_mode, write_atomic


@dataclass
class WriteResult:
    """What --write did: ``action`` is created (new file), added, updated or unchanged."""

    client: str
    path: Path
    name: str
    url: str
    action: str
    backup: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "client": self.client,
            "path": str(self.path),
            "name": self.name,
            "url": self.url,
            "action": self.action,
            "backup": str(self.backup) if self.backup else None,
        }


def _load_existing(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {path}: {exc}") from exc
    except json.JSONDecodeError as exc:
        raise UserError(
            f"{path} is not valid JSON (line {exc.lineno}: {exc.msg}); nothing was changed",
            hint="fix the file (comments and trailing commas are not allowed), or pass --path",
        ) from exc
    if not isinstance(data, dict):
        raise UserError(f"{path} does not hold a JSON object; nothing was changed")
    return data


def write_config(spec: ClientSpec, *, name: str, url: str, path: Path | None = None) -> WriteResult:
    """Merge the ``name`` entry for ``spec`` into ``path`` (default: the client's usual file)."""
    if not spec.writable or spec.container is None or spec.default_path is None:
        raise UserError(
            f"{spec.key} has no config file to write",
            hint="run the printed command instead (drop --write)",
        )
    target = Path(path) if path else spec.default_path()
    entry = render_json(spec.config or "", name=name, url=url)[spec.container][name]
    existed = target.exists()
    data = _load_existing(target) if existed else {}
    servers = data.setdefault(spec.container, {})
    if not isinstance(servers, dict):
        raise UserError(f"{target}: {spec.container!r} is not a JSON object; nothing was changed")
    previous = servers.get(name)
    if previous == entry:
        return WriteResult(spec.key, target, name, url, "unchanged")
    servers[name] = entry
    # Client configs hold no secret of ours: an existing file keeps its mode (and so does its
    # backup), a new one is an ordinary file (0644 with the usual umask), never forced to 0600.
    mode = target.stat().st_mode & 0o777 if existed else ordinary_file_mode()
    backup = None
    if existed:
        backup = target.with_name(target.name + ".bak")
        write_atomic(backup, target.read_bytes(), mode=mode)
    write_atomic(target, json.dumps(data, indent=2) + "\n", mode=mode)
    action = "created" if not existed else ("updated" if previous is not None else "added")
    return WriteResult(spec.key, target, name, url, action, backup)
