r"""The compiled integration loop shared by every node model: noise drawn inside, Heun or Euler, observation.

The pieces of one block of steps for one chunk of items, in the *kernel layout*: every array has the item axis last
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

Each model's ``_run`` (a cached, compiled loop of ~15 lines) calls these pieces and its own functions by
name: numba caches a function only if the functions it calls are globals, not arguments.

Block boundaries must be multiples of ``window * stride`` (the integrator ensures it); results do not
depend on the block length, the chunk or the thread (each item's arithmetic uses only its own lane).
"""

from __future__ import annotations

import numba
import numpy as np
from llvmlite import ir
from numba import types
from numba.core import cgutils
from numba.extending import intrinsic

from sim import jitcache
from sim.rng import normals_step, padded


@numba.njit(nogil=True, cache=True)
def workspace(z):  # pragma: no cover - compiled
    """Scratch of one block: (noise (M4, B): the normals padded to whole Philox calls, words (4, B), f0, f1, zp
    like z, acc (N, B), obs (N, B))."""
    n_s, n, nb = z.shape
    return (np.empty((padded(n_s * n), nb), np.float32), np.empty((4, nb), np.uint64), np.empty_like(z),
            np.empty_like(z), np.empty_like(z), np.zeros((n, nb), np.float32), np.empty((n, nb), np.float32))


@numba.njit(inline="always")
def increments(ws, k0, k1, step, scale):  # pragma: no cover - compiled
    """Step ``step``'s scaled Wiener increments S dW into the noise rows of ``ws`` (row s * N + i)."""
    noise = ws[0]
    normals_step(k0, k1, step, noise, ws[1])
    n_s, n, nb = scale.shape
    for s in range(n_s):
        for i in range(n):
            dw = noise[s * n + i]
            sc = scale[s, i]
            for b in range(nb):
                dw[b] = dw[b] * sc[b]


@numba.njit(inline="always")
def predictor(ws, z, dt):  # pragma: no cover - compiled
    """zp = z + f0 dt + S dW (the Euler-Maruyama step, and Heun's predictor)."""
    noise, f0, zp = ws[0], ws[2], ws[4]
    n_s, n, nb = z.shape
    for s in range(n_s):
        for i in range(n):
            dw = noise[s * n + i]
            zs = z[s, i]
            fs = f0[s, i]
            ps = zp[s, i]
            for b in range(nb):
                ps[b] = zs[b] + dt * fs[b] + dw[b]


@numba.njit(inline="always")
def corrector(ws, z, dt, heun):  # pragma: no cover - compiled
    """Heun: z = z + dt/2 (f0 + f1) + S dW, f1 = f(zp); Euler: z = zp."""
    noise, f0, f1, zp = ws[0], ws[2], ws[3], ws[4]
    if not heun:
        z[:] = zp
        return
    half = np.float32(0.5) * dt
    n_s, n, nb = z.shape
    for s in range(n_s):
        for i in range(n):
            dw = noise[s * n + i]
            zs = z[s, i]
            fs = f0[s, i]
            gs = f1[s, i]
            for b in range(nb):
                zs[b] = zs[b] + half * (fs[b] + gs[b]) + dw[b]


@numba.njit(inline="always")
def wants_observation(k, window, stride):  # pragma: no cover - compiled
    """Whether step k (from the block start) contributes to an output sample."""
    return window > 1 or (k + 1) % stride == 0


@numba.njit(inline="always")
def record(ws, out, k, window, stride, sample):  # pragma: no cover - compiled
    """Add this step's observable (in ws obs) to the window sum; write the mean when a sampled window ends.
    Returns the next output row."""
    acc, obs = ws[5], ws[6]
    n, nb = obs.shape
    if window == 1:
        out[sample] = obs
        return sample + 1
    for i in range(n):
        for b in range(nb):
            acc[i, b] += obs[i, b]
    if (k + 1) % window == 0:
        if ((k + 1) // window) % stride == 0:
            inv = np.float32(1.0 / window)
            for i in range(n):
                for b in range(nb):
                    out[sample, i, b] = acc[i, b] * inv
            sample += 1
        acc[:] = 0.0
    return sample


# ---------------------------------------------------------------------------------------------------------
# Sparse coupling sums with register accumulators
# ---------------------------------------------------------------------------------------------------------

def _ptr(context, builder, aryty, ary, inds):
    a = context.make_array(aryty)(context, builder, ary)
    return cgutils.get_item_pointer2(context, builder, a.data, cgutils.unpack_tuple(builder, a.shape),
                                     cgutils.unpack_tuple(builder, a.strides), aryty.layout, inds)


def _make_row_sums(n_vectors: int):
    """An intrinsic ``row_sums(wv, x, y, cx, cy, kbeg, kend, indices, b0)`` over one tile of items
    b0 .. b0 + n_vectors * lanes - 1:  cx[b] = sum_k wv[k, b] x[indices[k], b], cy[b] likewise with y, k = kbeg ..
    kend - 1 in order, each sum started at 0 and kept in a vector register (plain multiply, then add: the same
    operations in the same order as the scalar loop, so the same bits)."""

    @intrinsic
    def row_sums(typingctx, wv, x, y, cx, cy, kbeg, kend, indices, b0):
        arrays = (wv, x, y, cx, cy)
        if not all(isinstance(a, types.Array) and a.layout == "C" for a in arrays):
            return None  # unit stride along the items is what the vector loads assume
        if len({a.dtype for a in arrays}) != 1 or not isinstance(wv.dtype, types.Float):
            return None
        if (wv.ndim, x.ndim, y.ndim, cx.ndim, cy.ndim) != (2, 2, 2, 1, 1):
            return None
        if not (isinstance(indices, types.Array) and indices.ndim == 1 and isinstance(indices.dtype, types.Integer)):
            return None  # indices must be valid (0 <= j < N): no wraparound, no bounds check
        dtype = wv.dtype
        sig = types.void(wv, x, y, cx, cy, kbeg, kend, indices, b0)

        def codegen(context, builder, signature, args):
            wv_, x_, y_, cx_, cy_, kbeg_, kend_, ind_, b0_ = args
            wty, xty, yty, cxty, cyty, kbty, kety, indty, b0ty = signature.args
            intp = context.get_value_type(types.intp)
            kbeg_ = context.cast(builder, kbeg_, kbty, types.intp)
            kend_ = context.cast(builder, kend_, kety, types.intp)
            b0_ = context.cast(builder, b0_, b0ty, types.intp)
            elt = context.get_value_type(dtype)
            size = context.get_abi_sizeof(elt)
            lanes = VECTOR_BYTES // size  # as _lanes()
            vty = ir.VectorType(elt, lanes)
            zero = ir.Constant(vty, [ir.Constant(elt, 0.0)] * lanes)
            acc = [[cgutils.alloca_once_value(builder, zero) for _ in range(n_vectors)] for _ in range(2)]
            offsets = [builder.add(b0_, ir.Constant(intp, t * lanes)) for t in range(n_vectors)]

            def vec(aryty, ary, inds):  # unaligned load: numba's own allocations (the workspace) are not aligned
                return builder.load(builder.bitcast(_ptr(context, builder, aryty, ary, inds), vty.as_pointer()),
                                    align=size)

            with cgutils.for_range(builder, builder.sub(kend_, kbeg_), intp=intp) as loop:
                k = builder.add(kbeg_, loop.index)
                j = context.cast(builder, builder.load(_ptr(context, builder, indty, ind_, [k])), indty.dtype,
                                 types.intp)
                for t, off in enumerate(offsets):
                    w = vec(wty, wv_, [k, off])
                    for s, (aty, a_) in enumerate(((xty, x_), (yty, y_))):
                        builder.store(builder.fadd(builder.load(acc[s][t]), builder.fmul(w, vec(aty, a_, [j, off]))),
                                      acc[s][t])
            for s, (aty, a_) in enumerate(((cxty, cx_), (cyty, cy_))):
                for t, off in enumerate(offsets):
                    dst = builder.bitcast(_ptr(context, builder, aty, a_, [off]), vty.as_pointer())
                    builder.store(builder.load(acc[s][t]), dst, align=size)
            return context.get_dummy_value()

        return sig, codegen

    return row_sums


VECTOR_BYTES, TILE_VECTORS = jitcache.VECTOR_BYTES, jitcache.TILE_VECTORS  # fixed at import, as numba's target
_row_sums_tile = _make_row_sums(TILE_VECTORS)
_row_sums_vector = _make_row_sums(1)


@numba.njit(inline="always")
def _lanes(x):  # pragma: no cover - compiled
    return VECTOR_BYTES // x.itemsize


@numba.njit(inline="always")
def coupling_sums(wv, indptr, indices, x, y, cx, cy, i):  # pragma: no cover - compiled
    """Row i of the sparse coupling for two state components: cx[b] = sum_k wv[k, b] x[indices[k], b] and
    cy[b] likewise with y, over row i's entries k = indptr[i] .. indptr[i + 1] - 1 (:func:`sparse_rows`), for
    every item b, each sum in entry order from 0.

    Tiles of TILE_VECTORS vector registers of items keep their sums in registers over the row's entries (the
    plain item loop loaded and stored both sums at every entry), then single vectors, then the last items one by
    one. Every item gets the same operations in the same order on every path, so results do not depend on the
    chunk's size (tests/test_kernels.py). The tail and the tiles must stay alike: a caller compiled with
    ``fastmath`` (even ``{"contract"}``) would fuse the tail's multiply-adds but not the tiles', and items would then
    differ by their place in the chunk. The whole hopf kernel ran 1.28x faster at 256 items (1.34x at 128) on
    an AVX-512 Xeon, measured against the plain loop in one process."""
    nb = x.shape[1]
    lanes = _lanes(x)
    tile = TILE_VECTORS * lanes
    k0, k1 = indptr[i], indptr[i + 1]
    b = 0
    while b + tile <= nb:
        _row_sums_tile(wv, x, y, cx, cy, k0, k1, indices, b)
        b += tile
    while b + lanes <= nb:
        _row_sums_vector(wv, x, y, cx, cy, k0, k1, indices, b)
        b += lanes
    for r in range(b, nb):
        cx[r] = 0.0
        cy[r] = 0.0
    for k in range(k0, k1):
        j = indices[k]
        for r in range(b, nb):
            wb = wv[k, r]
            cx[r] += wb * x[j, r]
            cy[r] += wb * y[j, r]


#: byte alignment of kernel-layout arrays: one AVX-512 register / cache line. numpy's allocator aligns to 16 bytes,
#: so every 64-byte vector load of its rows would straddle two cache lines (measured 1.3-1.5x slower loads).
ALIGN_BYTES = 64


def aligned(a: np.ndarray, dtype=None) -> np.ndarray:
    """``a`` as a C-contiguous array of ``dtype`` whose data start on an ALIGN_BYTES boundary: ``a`` itself if it
    already is one, else an aligned copy."""
    a = np.asarray(a)
    dtype = np.dtype(a.dtype if dtype is None else dtype)
    if a.flags.c_contiguous and a.dtype == dtype and a.ctypes.data % ALIGN_BYTES == 0:
        return a
    buf = np.empty(a.size * dtype.itemsize + ALIGN_BYTES, np.uint8)
    start = -buf.ctypes.data % ALIGN_BYTES
    out = buf[start:start + a.size * dtype.itemsize].view(dtype).reshape(a.shape)
    out[...] = a
    return out


def to_kernel(a: np.ndarray) -> np.ndarray:
    """Per-item array (B, ...) -> kernel layout (..., B), C-contiguous, aligned; float32 unless given float64."""
    a = np.asarray(a)
    return aligned(np.moveaxis(a, 0, -1), np.float64 if a.dtype == np.float64 else np.float32)


def sparse_rows(*weights: np.ndarray) -> tuple:
    """Weights (B, N, N) [target, source] -> their shared sparsity pattern over the chunk, in kernel layout.

    Returns (values_1, ..., values_W (nnz, B), indptr (N + 1,) int64, indices (nnz,) int64): row i's sources
    are ``indices[indptr[i]:indptr[i + 1]]`` in increasing order. An entry is kept if any item of the chunk has
    a non-zero weight there in any of the arrays (the connectome's pattern is shared by every item; about 40 %
    of the default 23 x 23 matrix is non-zero). Skipping weights that are exactly 0 in every item leaves each
    item's sums, taken in the same order, bit-identical to the dense loop for finite states, so results still do
    not depend on which items share the chunk.
    """
    ws = [np.asarray(w) for w in weights]
    n = ws[0].shape[-1]
    keep = np.zeros((n, n), bool)
    for w in ws:
        keep |= np.any(w != 0, axis=0)
    rows, cols = np.nonzero(keep)  # row-major: sorted by target, then source
    indptr = np.zeros(n + 1, np.int64)
    np.cumsum(np.bincount(rows, minlength=n), out=indptr[1:])
    values = [aligned(np.moveaxis(w[:, rows, cols], 0, -1), np.float64 if w.dtype == np.float64 else np.float32)
              for w in ws]
    return (*values, indptr, cols.astype(np.int64))


def sparse_row_of(indptr: np.ndarray) -> np.ndarray:
    """Target row of every entry of a :func:`sparse_rows` pattern, (nnz,)."""
    return np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))


def state_to_kernel(z: np.ndarray) -> np.ndarray:
    """State (B, N, S) -> (S, N, B), aligned."""
    return aligned(np.transpose(z, (2, 1, 0)))


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
