"""The bulkhead's worker pool (server/pools.py): bounded, LIFO, one wake per job, the
``ThreadPoolExecutor.submit`` contract (a Future; a job cancelled before it starts never runs;
exceptions reach the Future), and a shutdown that strands nothing."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import CancelledError, Future, wait
from typing import Any

import pytest

from oci_mcp_cli.server.pools import JobTimedOut, LifoPool, call_in


def test_one_call_at_a_time_keeps_using_one_warm_thread() -> None:
    """Sequential jobs run on the most recently idle worker: one thread, however many jobs
    (``ThreadPoolExecutor`` rotated them over every thread it had started)."""
    pool = LifoPool(8, "t")
    try:
        names = {pool.submit(lambda: threading.current_thread().name).result(5) for _ in range(50)}
        assert names == {"t_0"} and pool.threads == 1
    finally:
        pool.shutdown()


def test_a_worker_is_idle_again_before_its_caller_learns_the_result() -> None:
    """The next job submitted the moment a result is known (here from the Future's own done
    callback, which runs as the result is set) finds the worker that just finished: no second
    thread. Before, the worker went back on the idle stack only after settling the Future, and
    every such job started a new thread."""
    pool = LifoPool(4, "r")
    names: list[str] = []
    done = threading.Event()

    def chain(remaining: int) -> None:
        future = pool.submit(lambda: threading.current_thread().name)

        def next_job(finished: object) -> None:
            names.append(future.result())
            if remaining > 1:
                chain(remaining - 1)
            else:
                done.set()

        future.add_done_callback(next_job)

    try:
        chain(20)
        assert done.wait(10)
        assert set(names) == {"r_0"} and pool.threads == 1, (set(names), pool.threads)
    finally:
        pool.shutdown()


def test_the_pool_is_bounded_and_queued_work_runs_when_a_worker_frees() -> None:
    pool = LifoPool(2, "b")
    gate, running = threading.Event(), threading.Semaphore(0)

    def blocked() -> str:
        running.release()
        gate.wait(10)
        return threading.current_thread().name

    try:
        futures = [pool.submit(blocked) for _ in range(5)]
        assert running.acquire(timeout=5) and running.acquire(timeout=5)
        assert not running.acquire(timeout=0.2)  # a third job waits: two workers at most
        gate.set()
        done, _ = wait(futures, timeout=10)
        assert len(done) == 5 and pool.threads == 2
        assert {f.result() for f in futures} <= {"b_0", "b_1"}
    finally:
        gate.set()
        pool.shutdown()


def test_a_job_cancelled_before_it_starts_never_runs_and_errors_reach_the_future() -> None:
    pool = LifoPool(1, "c")
    gate, ran = threading.Event(), []
    try:
        first = pool.submit(gate.wait, 10)
        queued = pool.submit(ran.append, "queued")
        assert queued.cancel()
        failing = pool.submit(lambda: 1 / 0)
        gate.set()
        assert first.result(5) is True
        with pytest.raises(ZeroDivisionError):
            failing.result(5)
        with pytest.raises(CancelledError):
            queued.result(0)
        assert ran == []
    finally:
        gate.set()
        pool.shutdown()


def test_shutdown_cancels_queued_jobs_ends_idle_workers_and_refuses_new_work() -> None:
    pool = LifoPool(1, "s")
    gate = threading.Event()
    running = pool.submit(gate.wait, 10)
    queued = pool.submit(lambda: "never")
    pool.shutdown(cancel_futures=True)
    assert queued.cancelled()
    gate.set()
    assert running.result(5) is True  # a running job finishes
    with pytest.raises(RuntimeError):
        pool.submit(lambda: None)
    workers = [t for t in threading.enumerate() if t.name.startswith("s_")]
    for thread in workers:
        thread.join(5)
    assert not any(t.is_alive() for t in workers)


def _voluntary_switches(thread: threading.Thread) -> int:
    with open(f"/proc/self/task/{thread.native_id}/status", encoding="ascii") as status:
        for line in status:
            if line.startswith("voluntary_ctxt_switches"):
                return int(line.split()[1])
    raise AssertionError("no voluntary_ctxt_switches")


def _all_idle(pool: LifoPool, count: int) -> bool:
    """Readiness: ``count`` workers are back on the idle stack (each then parks on its inbox)."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with pool._lock:
            if len(pool._idle) == count:
                return True
        time.sleep(0.001)
    return False


@pytest.mark.skipif(not hasattr(threading, "get_native_id"), reason="needs native thread ids")
def test_a_job_wakes_only_the_worker_that_runs_it() -> None:
    """Four idle workers, a hundred jobs one after the other: one worker runs them all and the
    other three stay asleep (``ThreadPoolExecutor``'s idle workers share one queue, and every
    job woke a second one for nothing: 3.2 against 2.1 voluntary switches per job, measured).

    A worker back on the idle stack may still be on its way to park (one switch), or waiting for
    the GIL on the way (one more): at most two switches each are that, not a wake per job."""
    pool = LifoPool(4, "w")
    gate = threading.Event()
    try:
        started = [pool.submit(gate.wait, 10) for _ in range(4)]
        gate.set()
        wait(started, timeout=10)
        assert _all_idle(pool, 4)
        workers = [t for t in threading.enumerate() if t.name.startswith("w_")]
        assert len(workers) == 4
        before = {t.name: _voluntary_switches(t) for t in workers}
        ran = {pool.submit(lambda: threading.current_thread().name).result(5) for _ in range(100)}
        switches = {t.name: _voluntary_switches(t) - before[t.name] for t in workers}
        assert len(ran) == 1, ran
        (runner,) = ran
        assert switches[runner] > 0, switches
        assert all(n <= 2 for name, n in switches.items() if name != runner), switches
    finally:
        pool.shutdown()


def test_pending_counts_running_and_waiting_jobs_until_they_finish_or_are_cancelled() -> None:
    pool = LifoPool(1, "p")
    gate = threading.Event()
    try:
        running = pool.submit(gate.wait, 10)
        waiting = [pool.submit(lambda: None) for _ in range(3)]
        assert pool.pending == 4
        assert waiting[0].cancel()  # still counted until a worker takes it off the queue
        gate.set()
        assert running.result(5) is True
        wait(waiting[1:], timeout=5)
        assert _all_idle(pool, 1) and pool.pending == 0
    finally:
        gate.set()
        pool.shutdown()


def test_call_in_returns_the_result_and_passes_the_jobs_own_errors_through() -> None:
    async def scenario(pool: LifoPool) -> None:
        assert await call_in(pool, 5, pow, 2, 10) == 1024

        def times_out_itself() -> None:
            raise TimeoutError("the job's own timeout")

        with pytest.raises(TimeoutError) as raised:
            await call_in(pool, 5, times_out_itself)
        assert not isinstance(raised.value, JobTimedOut)  # not mistaken for the wait's end

    pool = LifoPool(2, "e")
    try:
        asyncio.run(scenario(pool))
    finally:
        pool.shutdown()


def test_a_job_still_waiting_for_a_worker_at_the_timeout_never_runs() -> None:
    pool = LifoPool(1, "q")
    gate, ran = threading.Event(), []

    async def scenario() -> None:
        blocker = pool.submit(gate.wait, 10)
        with pytest.raises(JobTimedOut):
            await call_in(pool, 0.05, ran.append, "late")
        gate.set()
        assert await asyncio.wrap_future(blocker) is True

    try:
        asyncio.run(scenario())
        assert _all_idle(pool, 1)
        assert ran == [] and pool.pending == 0
    finally:
        gate.set()
        pool.shutdown()


class _HandOverSpy(LifoPool):
    """Records, when a job is handed over, whether the caller's wait is already armed."""

    armed: list[tuple[bool, bool]]

    def start(self, future: Future, fn: Callable[..., Any], *args: Any) -> None:
        loop = asyncio.get_running_loop()
        # CPython internals, read only to see the order: the future's callbacks (the asyncio
        # side of the wait) and the loop's timers (the timeout).
        chained = bool(future._done_callbacks)  # type: ignore[attr-defined]
        timer = any(not handle.cancelled() for handle in loop._scheduled)  # type: ignore[attr-defined]
        self.armed.append((chained, timer))
        super().start(future, fn, *args)


def test_call_in_arms_its_wait_before_it_hands_the_job_over() -> None:
    """The hand-over is the last thing the event loop does before it waits. Done after it,
    the rest of the set-up ran while the woken worker waited for the GIL, and the worker slept
    and woke a second time (1.6–1.8 voluntary switches of the worker per job against 1.0,
    measured in a loop of one job at a time; not asserted here, as a loaded machine moves it)."""
    pool = _HandOverSpy(1, "spy")
    pool.armed = []
    try:
        assert asyncio.run(call_in(pool, 5, pow, 3, 3)) == 27
        assert pool.armed == [(True, True)]
    finally:
        pool.shutdown()
