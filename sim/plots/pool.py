"""A run's figures drawn by whichever of two processes is free: a helper process and the caller.

Matplotlib drawing holds the GIL, so threads cannot overlap it with other work; a second process can.
:class:`FigureWork` starts one helper process (a fresh interpreter, ``python -c``: never ``fork``, because the
simulation's numba worker threads are already running in the caller, and not ``multiprocessing``'s spawn,
which re-runs the caller's ``__main__`` script in the child) and sends it the Dataset over a socket; the helper
draws figures of :func:`sim.plots.figures.figure_jobs` while the caller writes the other outputs
(results.nc, metrics.csv, the claims). The caller then calls :meth:`FigureWork.finish`, which draws the
figures the helper has not started yet and waits for the helper's. The caller owns the counter of figures
(the helper asks it for the next one), so each figure is drawn exactly once, by the same code on the same
Dataset: the files are the same bytes whichever process drew them (tests/test_plots.py).

A failure in the helper is raised in the caller as the same exception (an ``OSError`` of a full disk stays an
``OSError``) with a note naming the figure and the helper's traceback; a helper that dies is a
:class:`FigureHelperError`. Python warnings raised in the helper are re-issued in the caller, and its log
records (each figure's render time) logged again there (the run's cli.log).
:meth:`FigureWork.close` (also on any exception in the caller) ends the helper; a helper whose caller is gone
stops at its next request.
"""

from __future__ import annotations

import logging
import os
import pickle
import queue
import socket
import subprocess
import sys
import threading
import traceback
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

log = logging.getLogger(__name__)

#: seconds between checks that the helper is still alive while waiting for it
_POLL_S = 0.2


class FigureHelperError(RuntimeError):
    """The figure helper process ended without reporting (killed, crashed, could not start)."""


def _portable(e: BaseException) -> BaseException:
    """``e`` if it survives pickling, else a RuntimeError with its type and text."""
    try:
        pickle.loads(pickle.dumps(e))
        return e
    except Exception:  # noqa: BLE001 -- any unpicklable exception
        return RuntimeError(f"{type(e).__name__}: {e}")


def _data_uris(paths) -> dict[str, str]:
    """The report's data URI of each PNG in ``paths`` (:func:`sim.report.render.png_data_uri`), by resolved path."""
    from sim.report.render import png_data_uri

    return {str(Path(p).resolve()): png_data_uri(p) for p in paths if Path(p).suffix.lower() == ".png"}


#: the helper's ``python -c`` program. First (before the slow imports of matplotlib and scipy) it asks the kernel
#: to end it when the caller dies (Linux PR_SET_PDEATHSIG; a SIGKILL of the caller alone would otherwise leave it
#: drawing until its next request), and exits if the caller is already gone.
_BOOT = """import ctypes, os, sys
try:
    ctypes.CDLL(None).prctl(1, 9)
except (OSError, AttributeError, TypeError):
    pass
if os.getppid() != {parent}:
    sys.exit(1)
from sim.plots.pool import _helper_main
_helper_main({fd})
"""


class _LogRecorder(logging.Handler):
    """The helper's log records of the ``sim`` loggers (render times, skipped figures), to be logged again by the
    caller (the run's cli.log)."""

    def __init__(self):
        super().__init__(logging.INFO)
        self.records: list[tuple[str, int, str]] = []

    def emit(self, record) -> None:
        self.records.append((record.name, record.levelno, record.getMessage()))

    def take(self) -> list[tuple[str, int, str]]:
        out, self.records = self.records, []
        return out


def _helper_main(fd: int) -> None:
    """The helper process: receive (Dataset, out_dir, formats, dpi), then ask for figure indices and draw them,
    reporting each one (with the warnings it raised) until the caller says none is left."""
    import signal
    from multiprocessing.connection import Connection

    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole process group: the caller handles it
    conn = Connection(fd)
    name = None
    try:
        ds, out_dir, formats, dpi, embed = pickle.loads(conn.recv_bytes())
        from sim.plots.figures import figure_jobs, render_figure

        jobs = figure_jobs(ds)
        said_log = _LogRecorder()
        logging.getLogger("sim").addHandler(said_log)
        logging.getLogger("sim").setLevel(logging.INFO)
        while True:
            conn.send(("next",))
            i = conn.recv()
            if i is None:
                break
            name, make = jobs[i]
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                paths = render_figure(name, make, out_dir, formats, dpi)
            said = [(_portable(w.message), w.filename, w.lineno) for w in caught]
            conn.send(("done", i, [str(p) for p in paths], said, _data_uris(paths) if embed else {},
                       said_log.take()))
        conn.send(("end",))
    except (EOFError, BrokenPipeError, ConnectionResetError):  # the caller is gone
        pass
    except BaseException as e:  # noqa: BLE001 -- every failure goes back to the caller
        try:
            conn.send(("error", name, _portable(e), traceback.format_exc()))
        except OSError:
            pass
    finally:
        conn.close()


class FigureWork:
    """The figures of ``ds`` (:func:`sim.plots.figures.figure_jobs`) drawn into ``out_dir``.

    ``helper``: draw in a helper process as well as in the caller (else all in the caller, in order, when
    :meth:`finish` is called). ``embed``: also make each PNG's data URI for report.html right after drawing it
    (:attr:`uris`; in the process that drew it). Use as a context manager, or call :meth:`close`."""

    def __init__(self, ds, out_dir, formats: Sequence[str] = ("png",), dpi: int | None = None, helper: bool = True,
                 embed: bool = False):
        from sim.plots.figures import _DPI, figure_jobs

        self.ds, self.out_dir, self.formats = ds, Path(out_dir), tuple(formats)
        self.dpi = _DPI if dpi is None else int(dpi)
        self.jobs = figure_jobs(ds)
        self.names = [name for name, _ in self.jobs]
        self.helper = bool(helper) and len(self.jobs) > 1
        self.embed = bool(embed)
        self.paths: dict[int, list[Path]] = {}
        self.uris: dict[str, str] = {}  # with ``embed``: each PNG's data URI for report.html, by resolved path
        self._lock = threading.Lock()
        self._next = 0
        self._theirs: set[int] = set()
        self._proc = self._conn = self._thread = None
        self._inbox: queue.Queue = queue.Queue()
        self._ended = False

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> FigureWork:
        """Start the helper; returns at once (a background thread sends the Dataset and answers the helper)."""
        if not self.helper or self._proc is not None:
            return self
        from multiprocessing.connection import Connection

        import sim

        mine, theirs = socket.socketpair()
        env = dict(os.environ)
        root = str(Path(sim.__file__).resolve().parent.parent)  # the helper imports this same sim package
        env["PYTHONPATH"] = os.pathsep.join([root, *([env["PYTHONPATH"]] if env.get("PYTHONPATH") else [])])
        code = _BOOT.format(parent=os.getpid(), fd=theirs.fileno())
        try:
            self._proc = subprocess.Popen([sys.executable, "-c", code], pass_fds=[theirs.fileno()], env=env,
                                          stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                                          stderr=subprocess.DEVNULL, close_fds=True)
        except (OSError, ValueError) as e:  # no interpreter to start (embedded Python): draw everything here
            log.info("figures: no helper process (%s); drawing them in this process", e)
            self.helper = False
            mine.close()
            return self
        finally:
            theirs.close()
        self._conn = Connection(mine.detach())
        payload = (self.ds, str(self.out_dir), self.formats, self.dpi, self.embed)
        self._thread = threading.Thread(target=self._serve, args=(payload,), name="dmnsim-figures", daemon=True)
        self._thread.start()
        return self

    def _serve(self, payload) -> None:
        """Background thread: send the job, answer the helper's requests, pass its reports to the caller."""
        conn = self._conn
        try:
            conn.send_bytes(pickle.dumps(payload, protocol=pickle.HIGHEST_PROTOCOL))
            while True:
                msg = conn.recv()
                if msg[0] == "next":
                    conn.send(self._take(theirs=True))
                else:
                    self._inbox.put(msg)
                    if msg[0] in ("end", "error"):
                        return
        except (OSError, EOFError):  # the helper is gone (or close() closed the socket)
            self._inbox.put(("gone",))

    def close(self) -> None:
        """End the helper (if still running) and release the socket."""
        proc, self._proc = self._proc, None
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:  # pragma: no cover - ignores SIGTERM
                proc.kill()
                proc.wait()
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        if self._thread is not None:
            self._thread.join(5)
            self._thread = None

    def __enter__(self) -> FigureWork:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    # ------------------------------------------------------------------------------------------- drawing
    def _take(self, theirs: bool = False) -> int | None:
        with self._lock:
            i = self._next
            if i >= len(self.jobs):
                return None
            self._next = i + 1
            if theirs:
                self._theirs.add(i)
            return i

    def _handle(self, msg, advance) -> None:
        kind = msg[0]
        if kind == "done":
            _, i, paths, said, uris, logged = msg
            self.paths[i] = [Path(p) for p in paths]
            self.uris.update(uris)
            for name, level, text in logged:
                logging.getLogger(name).log(level, "%s (in the figure helper process)", text)
            for message, filename, lineno in said:
                warnings.warn_explicit(message, type(message), filename, lineno)
            advance(self.names[i])
        elif kind == "end":
            self._ended = True
        elif kind == "error":
            _, name, exc, tb = msg
            exc.add_note(f"(in the figure helper process, drawing {name or 'no figure yet'}):\n{tb.rstrip()}")
            raise exc
        else:
            self._died()

    def _drain(self, advance, block: bool) -> None:
        """Handle the helper's reports; with ``block``, until it has ended."""
        while not self._ended:
            try:
                msg = self._inbox.get(timeout=_POLL_S) if block else self._inbox.get_nowait()
            except queue.Empty:
                if not block:
                    return
                if self._thread is None or not self._thread.is_alive():
                    self._died()
                continue
            self._handle(msg, advance)

    def _died(self):
        lost = [self.names[i] for i in sorted(self._theirs) if i not in self.paths]
        code = self._proc.poll() if self._proc is not None else None
        raise FigureHelperError(f"the figure helper process ended (exit code {code}) before it had drawn "
                                f"{', '.join(lost) or 'its first figure'}; the run is not written")

    def finish(self, advance: Callable[[str], None] | None = None) -> list[Path]:
        """Draw the figures not yet taken (here, in order), wait for the helper's, return every path written
        in :func:`figure_jobs` order. ``advance(name)`` is called once per figure as it is done."""
        from sim.plots.figures import render_figure

        advance = advance or (lambda name: None)
        if self.helper and self._proc is None:
            self.start()
        while (i := self._take()) is not None:
            if self.helper:
                self._drain(advance, block=False)
            name, make = self.jobs[i]
            self.paths[i] = render_figure(name, make, self.out_dir, self.formats, self.dpi)
            if self.embed:
                self.uris.update(_data_uris(self.paths[i]))
            advance(name)
        if self.helper:
            self._drain(advance, block=True)
            self.close()
        return [p for i in sorted(self.paths) for p in self.paths[i]]


def draw_figures(ds, out_dir, formats: Sequence[str] = ("png",), dpi: int | None = None, helper: bool = True,
                 advance: Callable[[str], None] | None = None) -> list[Path]:
    """All of ``ds``'s figures into ``out_dir`` (:class:`FigureWork` from start to finish)."""
    with FigureWork(ds, out_dir, formats, dpi, helper=helper) as work:
        return work.finish(advance)
