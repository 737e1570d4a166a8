r"""The compiled integration loop shared by every node model: noise drawn inside, Heun or Euler, observation.

One block of steps for one chunk of items, in the *kernel layout*: every array has the item axis last
(state ``z`` is (S, N, B), weights (N, N, B)), so each loop over items is unit-stride and vectorises.
Per step n (numba, no Python, the GIL released):

1. the item's standard normals of step n from its Philox key (:func:`sim.rng.normals_step`), times
   ``scale`` = sigma sqrt(dt), give the Wiener increments :math:`S\Delta W_n`;
2. ``begin(z, p, aux, hist, n)``: per-step inputs held over the step (delayed coupling from a ring buffer);
3. stochastic Heun :math:`\tilde z = z + f(z)dt + S\Delta W`, :math:`z \leftarrow z + \tfrac{dt}{2}(f(z) + f(\tilde z))
   + S\Delta W` (or Euler-Maruyama), with the model's ``rhs(z, p, aux, out)`` (the only copy of its equations);
4. ``end(z, p, hist, n)``: history update (ring buffer) or wrapping (phases);
5. observation fused: the observable is averaged over ``window`` steps (1 = the instantaneous value) and
   every ``stride``-th window mean is written to ``out`` (e.g. direct observation: window 1, stride = steps
   per TR; Balloon input: window = steps per 10 ms, stride 1). Nothing else of the trajectory is kept.

Block boundaries must be multiples of ``window * stride`` (the integrator ensures it); results do not
depend on the block length, the chunk or the thread (each item's arithmetic uses only its own lane).
"""

from __future__ import annotations

import numba
import numpy as np

from sim.rng import normals_step, padded


@numba.njit(inline="always")
def no_begin(z, p, aux, hist, step):  # pragma: no cover - compiled
    pass


@numba.njit(inline="always")
def no_end(z, p, hist, step):  # pragma: no cover - compiled
    pass


@numba.njit(nogil=True, error_model="numpy")
def run_block(rhs, begin, end, observe, p, aux, hist, z, k0, k1, scale, step0, n_steps, dt, heun,
              window, stride, out):  # pragma: no cover - compiled
    """Advance z (S, N, B) in place by ``n_steps`` steps from integration step ``step0``; write
    ``n_steps // (window * stride)`` observation samples (N, B) into ``out``."""
    n_s, n, nb = z.shape
    m = n_s * n
    noise = np.empty((padded(m), nb), np.float32)
    words = np.empty((4, nb), np.uint64)
    uf = np.empty(nb, np.float32)
    ub = uf.view(np.uint32)
    f0 = np.empty_like(z)
    f1 = np.empty_like(z)
    zp = np.empty_like(z)
    acc = np.zeros((n, nb), np.float32)
    obs = np.empty((n, nb), np.float32)
    half = np.float32(0.5) * dt
    inv_window = np.float32(1.0 / window)
    sample = 0
    for k in range(n_steps):
        step = step0 + k
        normals_step(k0, k1, step, noise, words, uf, ub)
        begin(z, p, aux, hist, step)
        rhs(z, p, aux, f0)
        for s in range(n_s):
            for i in range(n):
                dw = noise[s * n + i]
                sc = scale[s, i]
                zs = z[s, i]
                fs = f0[s, i]
                ps = zp[s, i]
                for b in range(nb):
                    dw[b] = dw[b] * sc[b]
                    ps[b] = zs[b] + dt * fs[b] + dw[b]
        if heun:
            rhs(zp, p, aux, f1)
            for s in range(n_s):
                for i in range(n):
                    dw = noise[s * n + i]
                    zs = z[s, i]
                    fs = f0[s, i]
                    gs = f1[s, i]
                    for b in range(nb):
                        zs[b] = zs[b] + half * (fs[b] + gs[b]) + dw[b]
        else:
            z[:] = zp
        end(z, p, hist, step)
        if window == 1:
            if (k + 1) % stride == 0:
                observe(z, p, out[sample])
                sample += 1
        else:
            observe(z, p, obs)
            for i in range(n):
                for b in range(nb):
                    acc[i, b] += obs[i, b]
            if (k + 1) % window == 0:
                if ((k + 1) // window) % stride == 0:
                    for i in range(n):
                        for b in range(nb):
                            out[sample, i, b] = acc[i, b] * inv_window
                    sample += 1
                acc[:] = 0.0


def to_kernel(a: np.ndarray) -> np.ndarray:
    """Per-item array (B, ...) -> kernel layout (..., B), C-contiguous; float32 unless given float64."""
    a = np.asarray(a)
    return np.ascontiguousarray(np.moveaxis(a if a.dtype == np.float64 else a.astype(np.float32), 0, -1))


def state_to_kernel(z: np.ndarray) -> np.ndarray:
    """State (B, N, S) -> (S, N, B)."""
    return np.ascontiguousarray(np.transpose(z, (2, 1, 0)))


def state_from_kernel(zk: np.ndarray) -> np.ndarray:
    """State (S, N, B) -> (B, N, S)."""
    return np.ascontiguousarray(np.transpose(zk, (2, 1, 0)))


def drift_via_kernel(rhs, z: np.ndarray, pk: tuple, aux=None) -> np.ndarray:
    """Evaluate a compiled ``rhs`` on a batch in the usual layout: z (B, N, S) -> dz/dt (B, N, S).

    ``pk`` are the kernel-layout params (cast to z's dtype); ``aux`` the per-step inputs (A, N, B) or None.
    """
    dtype = np.float64 if z.dtype == np.float64 else np.float32
    zk = np.ascontiguousarray(np.transpose(z, (2, 1, 0)), dtype=dtype)
    pk = tuple(np.ascontiguousarray(a, dtype=dtype) if isinstance(a, np.ndarray) and a.dtype.kind == "f" else a
               for a in pk)
    if aux is None:
        aux = np.zeros((1,) + zk.shape[1:], dtype)
    out = np.empty_like(zk)
    rhs(zk, pk, np.ascontiguousarray(aux, dtype=dtype), out)
    return np.transpose(out, (2, 1, 0))
