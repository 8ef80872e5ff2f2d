"""The bounded worker pool of one tool (the bulkhead of ``server/clients.py``).

``ThreadPoolExecutor`` keeps its idle workers waiting on one shared queue: a job wakes whichever
of them the lock hands it to, so calls rotate over every thread the pool ever started (each with
its own cold caches and its own SDK clients, ``ClientPool`` being per thread), and a worker
often wakes for a job another one took and goes back to sleep (measured with ``strace`` at one
call at a time: 6 futex waits per call against 3 for anyio's workers). Here each worker has a
queue of its own and the most recently idle one gets the next job — the scheme of anyio's
worker threads: one wake per job, and a steady load keeps using the same warm threads.
Same contract as ``ThreadPoolExecutor.submit``: a ``concurrent.futures.Future``, and cancelling
it before the job starts means the job never runs. ``call_in`` is how the event loop awaits a
job: its wait armed first, the hand-over last, so the woken worker finds the GIL free.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import Future
from functools import partial
from queue import SimpleQueue
from typing import Any

_Job = tuple[Future, Callable[..., Any], tuple[Any, ...]]


class _Worker:
    __slots__ = ("inbox",)

    def __init__(self) -> None:
        self.inbox: SimpleQueue[_Job | None] = SimpleQueue()


class LifoPool:
    """At most ``max_workers`` threads named ``<prefix>_<n>`` (daemons: a call still running
    when the server stops is bounded by its deadline and never holds the process up)."""

    def __init__(self, max_workers: int, thread_name_prefix: str) -> None:
        if max_workers < 1:
            raise ValueError("max_workers must be at least 1")
        self.max_workers = max_workers
        self._prefix = thread_name_prefix
        self._lock = threading.Lock()
        self._idle: list[_Worker] = []  # a stack: the most recently idle worker is last
        self._waiting: deque[_Job] = deque()  # jobs that came while every worker was busy
        self._started = 0
        self._pending = 0  # jobs handed over and not finished (running or waiting)
        self._closed = False

    @property
    def threads(self) -> int:
        """Worker threads started so far (never more than ``max_workers``)."""
        return self._started

    @property
    def pending(self) -> int:
        """Jobs running or waiting for a worker."""
        return self._pending

    def submit(self, fn: Callable[..., Any], *args: Any) -> Future:
        future: Future = Future()
        self.start(future, fn, *args)
        return future

    def start(self, future: Future, fn: Callable[..., Any], *args: Any) -> None:
        """``submit`` with the caller's own ``future``, so that it can set up its waiting
        (callbacks, a timer) before the job is handed over (``call_in``)."""
        job: _Job = (future, fn, args)
        with self._lock:
            if self._closed:
                raise RuntimeError("cannot schedule new work after shutdown")
            self._pending += 1
            if self._idle:
                worker = self._idle.pop()
            elif self._started < self.max_workers:
                worker = _Worker()
                name = f"{self._prefix}_{self._started}"
                self._started += 1
                threading.Thread(target=self._work, args=(worker,), name=name, daemon=True).start()
            else:
                self._waiting.append(job)
                return
        worker.inbox.put(job)

    def shutdown(self, cancel_futures: bool = True) -> None:
        """No new work; jobs not started yet are cancelled (``cancel_futures``), idle workers
        end, busy ones end after their job."""
        with self._lock:
            self._closed = True
            waiting = list(self._waiting) if cancel_futures else []
            if cancel_futures:
                self._waiting.clear()
                self._pending -= len(waiting)
            idle, self._idle = self._idle, []
        for future, _, _ in waiting:
            future.cancel()
        for worker in idle:
            worker.inbox.put(None)

    def _work(self, worker: _Worker) -> None:
        job = worker.inbox.get()
        while job is not None:
            future, fn, args = job
            settle: Callable[[], None] | None = None
            if future.set_running_or_notify_cancel():
                try:
                    result = fn(*args)
                except BaseException as exc:  # as ThreadPoolExecutor: the caller decides
                    settle = partial(future.set_exception, exc)
                else:
                    settle = partial(future.set_result, result)
                    del result
            # Back on the idle stack *before* the caller learns the result: a caller that
            # submits its next job at once finds this warm worker, not an empty stack and a
            # new thread.
            parked, job = self._next(worker)
            if settle is not None:
                settle()
            del future, fn, args, settle  # nothing of a finished call stays referenced
            if parked:
                job = worker.inbox.get()

    def _next(self, worker: _Worker) -> tuple[bool, _Job | None]:
        """``(False, job)`` for a job that waited for a worker, ``(False, None)`` when the pool
        is closed, else ``(True, None)``: parked on the idle stack, the next job comes through
        the worker's inbox."""
        with self._lock:
            self._pending -= 1
            if self._waiting:
                return False, self._waiting.popleft()
            if self._closed:
                return False, None
            self._idle.append(worker)
        return True, None


class JobTimedOut(TimeoutError):
    """``call_in``'s wait ended at its timeout (not a ``TimeoutError`` the job raised)."""


async def call_in(pool: LifoPool, timeout: float, fn: Callable[..., Any], *args: Any) -> Any:
    """Await ``fn(*args)`` run by ``pool``, at most ``timeout`` seconds (then ``JobTimedOut``,
    and the job never runs if it has not started).

    Everything the wait needs (the asyncio future, the timer) is set up before the job is
    handed over, so the hand-over is the last thing the event loop does before it waits. A
    worker woken while the loop still runs Python finds the GIL taken: it wakes only to wait
    for it, and is woken a second time when the loop lets go (measured: 1.7 voluntary switches
    of the worker per job with the wait set up after the hand-over, 1.0 with it before; at one
    call at a time that is latency)."""
    work: Future = Future()
    waiter = asyncio.wrap_future(work)  # cancelled at the timeout: so is the job, if queued
    timer = asyncio.timeout(timeout)
    try:
        async with timer:
            pool.start(work, fn, *args)
            return await waiter
    except TimeoutError:
        if timer.expired():
            raise JobTimedOut(f"no result within {timeout:g}s") from None
        raise
