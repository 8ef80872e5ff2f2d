"""``bench/gc_site`` (the probe behind ``bench/profile_gc.py``) counts what it says: collector
passes per generation with their CPU, the threshold override, the survivor tally.
Behaviour only — the numbers live in docs/benchmarks.md "Concurrency 50 (stop 20)"."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

SITE = Path(__file__).resolve().parent.parent / "bench" / "gc_site"

# a process as the probe sees serve: it sets thresholds, collects, and ends when told (stdin)
CHILD = """
import gc, json, sys
gc.set_threshold(5000, 10, 10)
class Node:
    pass
keep = []
for _ in range(3):
    a, b = Node(), Node()
    a.b, b.a = b, a
    keep.append(a)
    gc.collect(0)
print(json.dumps(gc.get_threshold()), flush=True)
sys.stdin.read()
"""


def _probe(tmp_path: Path, **extra: str) -> tuple[list[int], dict]:
    out = tmp_path / "gc.json"
    env = {**os.environ, "PYTHONPATH": str(SITE), "OCI_MCP_GC_OUT": str(out), **extra}
    child = subprocess.Popen([sys.executable, "-c", CHILD], env=env, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None
        thresholds = json.loads(child.stdout.readline())
        deadline = time.monotonic() + 30
        stats: dict = {}
        while time.monotonic() < deadline:  # the probe rewrites its totals every 0.2 s
            if out.exists():
                stats = json.loads(out.read_text())
                if stats["passes"][0] >= 3:
                    break
            time.sleep(0.05)
    finally:
        child.communicate("", timeout=30)
    return thresholds, stats


def test_gc_probe_counts_passes_and_overrides_thresholds(tmp_path: Path) -> None:
    thresholds, stats = _probe(tmp_path, OCI_MCP_GC_T0="1234", OCI_MCP_GC_T1="77")
    assert thresholds == [1234, 77, 10]
    assert stats["passes"][0] >= 3
    assert stats["cpu_s"][0] > 0
    assert stats["survivors"] == {}  # not asked for


def test_gc_probe_keeps_the_process_thresholds_unless_told(tmp_path: Path) -> None:
    thresholds, stats = _probe(tmp_path, OCI_MCP_GC_SURVIVORS="1")
    assert thresholds == [5000, 10, 10]
    assert stats["survivors"].get("__main__.Node", 0) >= 2  # the live cycles were promoted
