"""core.files: atomic 0600 writes, backups, private dirs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from oci_mcp_cli.core import files
from oci_mcp_cli.core.files import backup_file, ensure_private_dir, file_mode, write_private


def test_write_private_is_0600_and_replaces(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "secret.txt"
    write_private(target, "one")
    assert target.read_text() == "one"
    assert file_mode(target) == 0o600
    target.chmod(0o644)
    write_private(target, b"two")
    assert target.read_bytes() == b"two"
    assert file_mode(target) == 0o600
    assert [p.name for p in target.parent.iterdir()] == ["secret.txt"]  # no temp file left


def test_failed_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "f"
    write_private(target, "old")

    def boom(src: str, dst: str) -> None:  # simulate a crash between write and rename
        raise OSError("disk gone")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError):
        write_private(target, "new")
    assert target.read_text() == "old"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f"]


def test_backup_file(tmp_path: Path) -> None:
    assert backup_file(tmp_path / "missing") is None
    source = tmp_path / ".env"
    source.write_text("A=1\n")
    source.chmod(0o644)
    backup = backup_file(source)
    assert backup == tmp_path / ".env.bak"
    assert backup.read_text() == "A=1\n"
    assert file_mode(backup) == 0o600


def test_ensure_private_dir(tmp_path: Path) -> None:
    path = ensure_private_dir(tmp_path / "a" / "b")
    assert path.is_dir()
    assert os.stat(path).st_mode & 0o777 == 0o700
    assert ensure_private_dir(path) == path  # existing dir untouched
