"""Bounded work for the sandbox: memory-bounded LRU caches and two workers with bounded queues.

* Plots (``POST /api/simulate``): one simulation worker; at most :data:`MAX_QUEUED` settings wait behind the running
  one, a new setting beyond that is refused with :class:`Busy` (the HTTP layer answers 503 with ``Retry-After``).
  Requests for a setting that is already queued or running wait for the same job. The encoded answers are cached
  (at most :data:`CACHE_MAX_BYTES`, :data:`CACHE_MAX_ENTRIES`).
* Claims (``POST /api/claims``): a second worker evaluates the claims on a run the simulation worker made (the last
  :data:`RUNS_MAX` runs are kept; an evicted one is run again). It gives way to the simulation worker before every
  claim, so a control change never waits for the claims of the previous one.
* Across requests the slow drug states are kept per :func:`sim.sandbox.controls.slow_key` (:data:`SLOW_MAX`): a
  change of coupling, noise or mode does not integrate the pharmacology again.
* A job whose every waiter has gone away (the client closed the connection: the page aborts a superseded request)
  is cancelled: removed from the queue if it has not started, stopped at the next progress tick or claim if it has.
* :meth:`Cache.progress` reports a job's state and the fraction of its integration steps done (``POST
  /api/progress``, the page's progress bar in simulated mode).
"""

from __future__ import annotations

import itertools
import json
import queue
import threading
import time
from collections import OrderedDict

from sim.sandbox.controls import Controls, parse_controls, slow_key
from sim.sandbox.payload import Cancelled  # noqa: F401 - re-exported (the HTTP layer catches it)

MAX_QUEUED = 4                 # settings waiting behind the running one
CACHE_MAX_BYTES = 64 * 2**20   # one plots payload of the default live run is ~0.2-0.4 MB
CACHE_MAX_ENTRIES = 256
CLAIMS_MAX_ENTRIES = 256       # one claims payload is ~40 kB
RUNS_MAX = 6                   # live runs kept for their claims (~7 MB each at 8 subjects)
SLOW_MAX = 8                   # slow-state sets kept (~1.6 MB per condition at 8 subjects)


class Busy(RuntimeError):
    """The simulation queue is full; try again later (``retry_after_s``)."""

    def __init__(self, retry_after_s: int):
        super().__init__(f"the simulator is busy ({MAX_QUEUED} settings queued); try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


_ORDER = itertools.count()  # submission order of jobs (a queued job's place in the line)


class Job:
    def __init__(self, c: Controls, kind: str = "plots"):
        self.controls, self.kind, self.done = c, kind, threading.Event()
        self.order = next(_ORDER)
        self.body: bytes | None = None
        self.error: BaseException | None = None
        self.waiters, self.cancelled, self.started = 0, False, False
        self.need_run = False           # the claims worker waits for this job's run (not only its answer)
        self.steps_done, self.steps_total = 0, 0
        self.t_start: float | None = None


class _LRU(OrderedDict):
    def __init__(self, max_entries: int):
        super().__init__()
        self.max_entries = max_entries

    def get_fresh(self, k):
        v = self.get(k)
        if v is not None:
            self.move_to_end(k)
        return v

    def put(self, k, v):
        self[k] = v
        self.move_to_end(k)
        while len(self) > self.max_entries:
            self.popitem(last=False)


class Cache:
    """Caches + workers. :meth:`get` blocks until the plots are ready; :meth:`submit`/:meth:`wait` let the HTTP
    layer watch its client while waiting; :meth:`submit_claims` is the same for the claims table."""

    def __init__(self, max_bytes: int = CACHE_MAX_BYTES, max_entries: int = CACHE_MAX_ENTRIES,
                 max_queued: int = MAX_QUEUED, build=None, claims=None):
        self.max_bytes, self.max_entries, self.max_queued = max_bytes, max_entries, max_queued
        self.data: OrderedDict[Controls, bytes] = OrderedDict()
        self.nbytes = 0
        self.lock = threading.Lock()
        self.jobs: dict[Controls, Job] = {}
        self.queue: queue.Queue[Job] = queue.Queue()
        self.claims_data = _LRU(CLAIMS_MAX_ENTRIES)
        self.claims_jobs: dict[Controls, Job] = {}
        self.claims_queue: queue.Queue[Job] = queue.Queue()
        self.runs = _LRU(RUNS_MAX)       # Controls -> the live run (xarray Dataset)
        self.slow = _LRU(SLOW_MAX)       # slow_key -> {condition: slow states}
        self.sim_idle = threading.Event()
        self.sim_idle.set()
        self.stats = {"simulated": 0, "cancelled": 0, "refused": 0, "cached": 0, "claims": 0}
        self._build, self._claims = build, claims
        self._worker: threading.Thread | None = None
        self._claims_worker: threading.Thread | None = None
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
            self.claims_data.clear()
            self.runs.clear()
            self.slow.clear()

    def lookup_claims(self, c: Controls) -> bytes | None:
        with self.lock:
            return self.claims_data.get_fresh(c)

    # ---------------------------------------------------------------- jobs
    def submit(self, c: Controls, need_run: bool = False) -> Job:
        """The plots job for ``c`` (an existing one if queued or running); raises :class:`Busy` when the queue is
        full."""
        with self.lock:
            job = self.jobs.get(c)
            if job is None:
                pending = sum(1 for j in self.jobs.values() if not j.started and not j.cancelled)
                if pending >= self.max_queued:
                    self.stats["refused"] += 1
                    raise Busy(max(1, round(self.last_run_s * (pending + 1))))
                job = self.jobs[c] = Job(c)
                self.sim_idle.clear()
                self.queue.put(job)
                self._ensure_workers()
            job.need_run = job.need_run or need_run
            job.waiters += 1
            return job

    def submit_claims(self, c: Controls) -> Job:
        """The claims job for ``c`` (an existing one if queued or running)."""
        with self.lock:
            job = self.claims_jobs.get(c)
            if job is None:
                pending = sum(1 for j in self.claims_jobs.values() if not j.started and not j.cancelled)
                if pending >= self.max_queued:
                    self.stats["refused"] += 1
                    raise Busy(max(1, round(2 * (pending + 1))))
                job = self.claims_jobs[c] = Job(c, "claims")
                self.claims_queue.put(job)
                self._ensure_workers()
            job.waiters += 1
            return job

    def release(self, job: Job) -> None:
        """A waiter is gone; cancel the job when it was the last one."""
        with self.lock:
            job.waiters -= 1
            if job.waiters <= 0 and not job.done.is_set() and not job.cancelled:
                job.cancelled = True
                self.stats["cancelled"] += 1
                (self.jobs if job.kind == "plots" else self.claims_jobs).pop(job.controls, None)

    def result(self, job: Job) -> bytes:
        if job.error is not None:
            raise job.error
        if job.body is None:
            raise Cancelled("cancelled")
        return job.body

    def get(self, c: Controls) -> tuple[bytes, bool]:
        """The encoded plots for ``c`` and whether they came from the cache (blocks; may raise :class:`Busy`)."""
        return self._wait(self.lookup(c), self.submit, c)

    def get_claims(self, c: Controls) -> tuple[bytes, bool]:
        """The encoded claims table for ``c`` and whether it came from the cache (blocks)."""
        return self._wait(self.lookup_claims(c), self.submit_claims, c)

    def _wait(self, cached: bytes | None, submit, c: Controls) -> tuple[bytes, bool]:
        if cached is not None:
            return cached, True
        job = submit(c)
        try:
            job.done.wait()
        finally:
            with self.lock:
                job.waiters -= 1
        return self.result(job), False

    def progress(self, c: Controls) -> dict:
        """State of the plots for ``c``: cached, running (with the fraction of integration steps done), queued
        (with the number of settings ahead) or unknown."""
        with self.lock:
            if c in self.data:
                return {"state": "cached", "fraction": 1.0}
            job = self.jobs.get(c)
            if job is None:
                return {"state": "unknown", "fraction": 0.0}
            if not job.started:
                ahead = sum(1 for j in self.jobs.values() if j is not job and not j.cancelled and
                            (j.started or j.order < job.order))
                return {"state": "queued", "fraction": 0.0, "ahead": ahead}
            frac = job.steps_done / job.steps_total if job.steps_total else 0.0
            return {"state": "running", "fraction": round(min(1.0, frac), 4),
                    "elapsed_s": round(time.perf_counter() - (job.t_start or time.perf_counter()), 2)}

    def _ensure_workers(self) -> None:
        if self._worker is None or not self._worker.is_alive():
            self._worker = threading.Thread(target=self._work, name="sandbox-simulator", daemon=True)
            self._worker.start()
        if self._claims_worker is None or not self._claims_worker.is_alive():
            self._claims_worker = threading.Thread(target=self._work_claims, name="sandbox-claims", daemon=True)
            self._claims_worker.start()

    def _work(self) -> None:
        while True:
            job = self.queue.get()
            with self.lock:
                if job.cancelled:
                    job.done.set()
                    if self.queue.empty() and not any(not j.cancelled for j in self.jobs.values()):
                        self.sim_idle.set()
                    continue
                job.started = True
                job.t_start = time.perf_counter()
            t0 = time.perf_counter()
            try:
                body = self.lookup(job.controls)
                if body is None or (job.need_run and self.runs.get(job.controls) is None):
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
                    if self.queue.empty():
                        self.sim_idle.set()
                job.done.set()

    def _run(self, job: Job) -> bytes:
        lock = threading.Lock()

        def tick(n):
            if job.cancelled:
                raise Cancelled("every client went away")
            with lock:
                job.steps_done += int(n)

        def total(n):
            job.steps_total = int(n)

        c = job.controls
        cpu0 = time.thread_time()  # this worker's CPU time: the cost of the answer whatever else the machine does
        if self._build is None:
            from sim.sandbox.payload import build_payload

            with self.lock:
                slow = self.slow.get_fresh(slow_key(c))
                if slow is None:
                    slow = {}
                    self.slow.put(slow_key(c), slow)
            out, ds = build_payload(c, progress=tick, slow_cache=slow, total=total)
            with self.lock:
                self.runs.put(c, ds)
        else:
            out = self._build(c, progress=tick)
            if isinstance(out, tuple):
                out, ds = out
                with self.lock:
                    self.runs.put(c, ds)
        if isinstance(out.get("timing"), dict):
            out["timing"]["cpu_s"] = round(time.thread_time() - cpu0, 4)
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()

    # ---------------------------------------------------------------- claims
    def _work_claims(self) -> None:
        while True:
            job = self.claims_queue.get()
            with self.lock:
                if job.cancelled:
                    job.done.set()
                    continue
                job.started = True
            try:
                body = self.lookup_claims(job.controls)
                if body is None:
                    body = self._run_claims(job)
                    with self.lock:
                        self.claims_data.put(job.controls, body)
                    self.stats["claims"] += 1
                job.body = body
            except BaseException as e:  # noqa: BLE001 - handed to the waiting request
                job.error = e
            finally:
                with self.lock:
                    if self.claims_jobs.get(job.controls) is job:
                        del self.claims_jobs[job.controls]
                job.done.set()

    def _run_claims(self, job: Job) -> bytes:
        c = job.controls

        def check():
            if job.cancelled:
                raise Cancelled("every client went away")
            self.sim_idle.wait()  # a control change first: the simulation worker has priority

        check()
        with self.lock:
            ds = self.runs.get_fresh(c)
        if ds is None:  # evicted (or the plots came from the cache): run it again on the simulation worker
            run = self.submit(c, need_run=True)
            try:
                while not run.done.wait(0.1):
                    if job.cancelled:
                        raise Cancelled("every client went away")
            finally:
                if run.done.is_set():
                    self._drop_waiter(run)
                else:
                    self.release(run)
            self.result(run)
            with self.lock:
                ds = self.runs.get_fresh(c)
            if ds is None:
                raise RuntimeError("the live run for the claims was not kept")
        if self._claims is not None:
            out = self._claims(ds, check)
        else:
            from sim.sandbox.payload import claims_payload

            out = claims_payload(ds, check)
        return json.dumps(out, separators=(",", ":"), allow_nan=False).encode()

    def _drop_waiter(self, job: Job) -> None:
        with self.lock:
            job.waiters -= 1


CACHE = Cache()


def simulate(controls: dict | Controls | None = None, claims: bool = True) -> dict:
    """Run (or fetch from the cache) the live simulation for ``controls``: the page's plots as a dict, with the
    claims table under ``claims`` (unless ``claims=False``), plus ``cached`` (bool: the plots came from the cache)
    and ``server_s`` (seconds the plots took in this call)."""
    t0 = time.perf_counter()
    c = controls if isinstance(controls, Controls) else parse_controls(controls)
    body, cached = CACHE.get(c)
    out = json.loads(body)
    out.update(cached=cached, server_s=round(time.perf_counter() - t0, 4))
    if claims:
        out["claims"] = json.loads(CACHE.get_claims(c)[0])
    return out
