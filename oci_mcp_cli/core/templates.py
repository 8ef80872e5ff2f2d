"""Locate files under ``templates/`` both in a source checkout and in an installed wheel."""

from __future__ import annotations

from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent.parent


def templates_dir() -> Path:
    """The templates directory: ``oci_mcp_cli/templates`` when installed, else the repo's."""
    installed = _PACKAGE_DIR / "templates"
    if installed.is_dir():
        return installed
    return _PACKAGE_DIR.parent / "templates"


def read_template(name: str) -> str:
    """The text of ``templates/<name>``."""
    return (templates_dir() / name).read_text(encoding="utf-8")
