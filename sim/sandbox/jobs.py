"""Bounded simulation work for the sandbox: a memory-bounded LRU cache of encoded payloads and one simulation
worker with a bounded queue.

* One simulation runs at a time (each run already uses every core); at most :data:`MAX_QUEUED` more wait. A new
  setting beyond that is refused with :class:`Busy` (the HTTP layer answers 503 with ``Retry-After``).
* Requests for a setting that is already queued or running wait for the same job (no second simulation).
* A job whose every waiter has gone away (the client closed the connection) is cancelled: removed from the queue
  if it has not started, stopped at the next progress tick if it has.
* The cache holds at most :data:`CACHE_MAX_BYTES` of encoded JSON (and :data:`CACHE_MAX_ENTRIES` entries).
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections import OrderedDict

from sim.sandbox.controls import Controls, parse_controls

MAX_QUEUED = 4                 # settings waiting behind the running one
CACHE_MAX_BYTES = 64 * 2**20   # one payload of the default live run is ~0.3-0.6 MB
CACHE_MAX_ENTRIES = 256


class Busy(RuntimeError):
    """The simulation queue is full; try again later (``retry_after_s``)."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"the simulator is busy ({MAX_QUEUED} settings queued); try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


class Cancelled(RuntimeError):
    """Every client waiting for this setting went away."""


class Job:
    def __init__(self, c: Controls):
        self.controls, self.done = c, threading.Event()
        self.body: bytes | None = None
        self.error: BaseException | None = None
        self.waiters, self.cancelled, self.started = 0, False, False


class Cache:
    """Cache + worker. :meth:`get` blocks until the payload is ready; :meth:`submit`/:meth:`wait` let the HTTP
    layer watch its client while waiting."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES, max_entries: int = CACHE_MAX_ENTRIES,
                 max_queued: int = MAX_QUEUED, build=None):
        self.max_bytes, self.max_entries, self.max_queued = max_bytes, max_entries, max_queued
        self.data: OrderedDict[Controls, bytes] = OrderedDict()
        self.nbytes = 0
        self.lock = threading.Lock()
        self.jobs: dict[Controls, Job] = {}
        self.queue: queue.Queue[Job] = queue.Queue()
        self.stats = {"simulated": 0, "cancelled": 0, "refused": 0, "cached": 0}
        self._build = build
        self._worker: threading.Thread | None = None
        self.last_run_s = 5.0

    # ---------------------------------------------------------------- cache
    def lookup(self, c: Controls) -> bytes | None:
        with self.lock:
            body = self.data.get(c)
            if body is not None:
                self.data.move_to_end(c)
                self.stats["cached"] += 1
            return body

    def _store(self, c: Controls, body: bytes) -> None:
        with self.lock:
            if c in self.data:
                return
            self.data[c] = body
            self.nbytes += len(body)
            while self.data and (self.nbytes > self.max_bytes or len(self.data) > self.max_entries):
                _, old = self.data.popitem(last=False)
                self.nbytes -= len(old)

    def clear(self) -> None:
        with self.lock:
            self.data.clear()
            self.nbytes = 0

    # ---------------------------------------------------------------- jobs
    def submit(self, c: Controls) -> Job:
        """The job for ``c`` (an existing one if queued or running); raises :class:`Busy` when the queue is full."""
        with self.lock:
            job = self.jobs.get(c)
            if job is None:
                pending = sum(1 for j in self.jobs.values() if not j.started and not j.cancelled)
                if pending >= self.max_queued:
                    self.stats["refused"] += 1
                    raise Busy(max(1, round(self.last_run_s * (pending + 1))))
                job = self.jobs[c] = Job(c)
                self.queue.put(job)
                self._ensure_worker()
            job.waiters += 1
            return job

    def release(self, job: Job) -> None:
        """A waiter is gone; cancel the job when it was the last one."""
        with self.lock:
            job.waiters -= 1
            if job.waiters <= 0 and not job.done.is_set() and not job.cancelled:
                job.cancelled = True
                self.stats["cancelled"] += 1
                self.jobs.pop(job.controls, None)

    def result(self, job: Job) -> bytes:
        if job.error is not None:
            raise job.error
        assert job.body is not None
        return job.body

    def get(self, c: Controls) -> tuple[bytes, bool]:
        """The encoded payload for ``c`` and whether it came from the cache (blocks; may raise :class:`Busy`)."""
        body = self.lookup(c)
        if body is not None:
            return body, True
        job = self.submit(c)
        try:
            job.done.wait()
        finally:
            with self.lock:
                job.waiters -= 1
        return self.result(job), False

    def _ensure_worker(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sandbox-simulator", daemon=True)
            self._worker.start()

    def _work(self) -> None:
        import time

        while True:
            job = self.queue.get()
            with self.lock:
                if job.cancelled:
                    job.done.set()
                    continue
                job.started = True
            t0 = time.perf_counter()
            try:
                body = self.lookup(job.controls)
                if body is None:
                    body = self._run(job)
                    self._store(job.controls, body)
                    self.stats["simulated"] += 1
                job.body = body
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                job.error = e
            finally:
                self.last_run_s = max(1.0, time.perf_counter() - t0)
                with self.lock:
                    if self.jobs.get(job.controls) is job:
                        del self.jobs[job.controls]
                job.done.set()

    def _run(self, job: Job) -> bytes:
        def tick(_n):
            if job.cancelled:
                raise Cancelled("every client went away")

        build = self._build
        if build is None:
            from sim.sandbox.payload import build_payload as build
        return json.dumps(build(job.controls, progress=tick), separators=(",", ":"), allow_nan=False).encode()


CACHE = Cache()


def simulate(controls: dict | Controls | None = None) -> dict:
    """Run (or fetch from the cache) the live simulation for ``controls``; the page's JSON as a dict,
    plus ``cached`` (bool) and ``server_s`` (seconds this call took)."""
    t0 = time.perf_counter()
    c = controls if isinstance(controls, Controls) else parse_controls(controls)
    body, cached = CACHE.get(c)
    out = json.loads(body)
    out.update(cached=cached, server_s=round(time.perf_counter() - t0, 4))
    return out
