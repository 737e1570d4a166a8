"""Small shared test utilities."""

from __future__ import annotations

import contextlib
import threading

import numpy as np


class Recorder:
    """Integrator sink keeping every observable block (tests only): result() is (T, items, regions)."""

    def __init__(self, n_items):
        self.blocks = []

    def push(self, obs, step0):
        self.blocks.append(obs.copy())

    def result(self):
        return np.concatenate(self.blocks)


class StepCovariance:
    """Integrator sink accumulating the covariance of the observable at every step after ``skip`` steps (no TR
    subsampling): result() is (items, regions, regions)."""

    def __init__(self, b, n, skip):
        self.skip, self.n, self.s1, self.s2 = skip, 0, np.zeros((b, n)), np.zeros((b, n, n))

    def push(self, obs, step0):
        y = obs[max(0, self.skip - step0):].astype(np.float64)
        if len(y):
            self.n += len(y)
            self.s1 += y.sum(0)
            self.s2 += np.einsum("tbi,tbj->bij", y, y)

    def result(self):
        m = self.s1 / self.n
        return self.s2 / self.n - m[:, :, None] * m[:, None, :]


@contextlib.contextmanager
def sandbox_server():
    """The sandbox's HTTP server on a free port in a background thread: yields (base url, server)."""
    from sim.sandbox import server as sb

    httpd = sb.make_server(0, quiet=True)
    t = threading.Thread(target=httpd.serve_forever, daemon=True)
    t.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def _refuse(message: str):
    raise ValueError(message)


class FailsToUnpickle:
    """An object that pickles but raises ``ValueError(message)`` when unpickled (in another process)."""

    def __init__(self, message: str):
        self.message = message

    def __reduce__(self):
        return (_refuse, (self.message,))
