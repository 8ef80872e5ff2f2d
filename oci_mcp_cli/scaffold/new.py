"""Write the starter ``server.py`` from ``templates/server/``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from oci_mcp_cli.core.errors import UserError
from oci_mcp_cli.core.templates import read_template

STARTER_TEMPLATE = "server/server.py"
STARTER_FILE = "server.py"


@dataclass
class NewResult:
    """Where the starter was written and what to run next."""

    path: Path
    overwritten: bool

    @property
    def app_spec(self) -> str:
        return f"{self.path}:mcp"

    def to_dict(self) -> dict[str, object]:
        return {"path": str(self.path), "overwritten": self.overwritten, "app": self.app_spec}


def write_starter(directory: Path, *, force: bool = False) -> NewResult:
    """Write ``directory/server.py``; refuse to replace an existing file unless ``force``."""
    directory = Path(directory)
    if directory.exists() and not directory.is_dir():
        raise UserError(f"{directory} exists and is not a directory")
    target = directory / STARTER_FILE
    existed = target.exists()
    if existed and not force:
        raise UserError(
            f"{target} already exists; nothing was written",
            hint="pass --force to overwrite it, or choose another directory",
        )
    directory.mkdir(parents=True, exist_ok=True)
    target.write_text(read_template(STARTER_TEMPLATE), encoding="utf-8")
    return NewResult(path=target, overwritten=existed)
