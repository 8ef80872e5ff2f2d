"""Measurement hook for ``bench/profile_gc.py`` only (never imported by oci-mcp itself).

On this directory's path with ``OCI_MCP_GC_OUT`` set, the process counts each collector pass
(``gc.callbacks``: passes, thread CPU, objects collected, per generation) and rewrites the totals
as JSON to that file every 0.2 s. ``OCI_MCP_GC_T0`` / ``OCI_MCP_GC_T1`` override the first two
thresholds the process sets with ``gc.set_threshold`` (``serve``'s ``tune_collector``).
``OCI_MCP_GC_SURVIVORS=1`` also tallies, after every gen-0 pass, the types (module.name) of the
objects it promoted to generation 1 (diagnosis only: it costs CPU).
"""

import os

if os.environ.get("OCI_MCP_GC_OUT"):
    import gc
    import json
    import threading
    import time

    _OUT = os.environ["OCI_MCP_GC_OUT"]
    _OVERRIDE = (os.environ.get("OCI_MCP_GC_T0"), os.environ.get("OCI_MCP_GC_T1"))
    _set_threshold = gc.set_threshold
    _stats: dict[str, list[float]] = {"passes": [0, 0, 0], "cpu_s": [0.0, 0.0, 0.0],
                                      "collected": [0, 0, 0]}
    _started: dict[int, float] = {}
    _survivors: dict[str, int] = {}
    _tally = os.environ.get("OCI_MCP_GC_SURVIVORS") == "1"

    def _tally_survivors() -> None:
        for obj in gc.get_objects(1):
            kind = type(obj)
            name = f"{kind.__module__}.{kind.__qualname__}"
            _survivors[name] = _survivors.get(name, 0) + 1

    def _threshold(*values: int) -> None:
        merged = [int(o) if o else v for o, v in zip(_OVERRIDE, values, strict=False)]
        _set_threshold(*merged, *values[len(merged):])

    def _count(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            _started[threading.get_ident()] = time.thread_time()
            return
        began = _started.pop(threading.get_ident(), None)
        if began is not None:
            gen = info["generation"]
            _stats["cpu_s"][gen] += time.thread_time() - began
            _stats["passes"][gen] += 1
            _stats["collected"][gen] += info["collected"]
            if _tally and gen == 0:
                _tally_survivors()

    def _write() -> None:
        while True:
            time.sleep(0.2)
            with open(f"{_OUT}.tmp", "w", encoding="utf-8") as out:
                json.dump({**_stats, "survivors": _survivors}, out)
            os.replace(f"{_OUT}.tmp", _OUT)

    gc.set_threshold = _threshold
    gc.callbacks.append(_count)
    threading.Thread(target=_write, name="gc-probe", daemon=True).start()
