"""The compiled kernels against the plain numpy reference: same equations, same scheme, same noise."""

from __future__ import annotations

import numpy as np
import pytest

from sim.integrate import Settings, simulate
from sim.models import MODELS, hopf, kuramoto, wilson_cowan
from sim.models.base import ALL_CAPABILITIES, DELAYS, KERNEL, POST_STEP, Kernel, NodeModel, supports
from sim.network import NetworkSpec
from sim.params import read_params
from tests.helpers import Recorder

N = 6


def _net(b, seed=0, delays=False, sparse=False):
    """A random network; ``sparse``: each item keeps its own random half of the edges (item-dependent patterns,
    so the chunk's shared sparsity pattern changes with the batch composition)."""
    rng = np.random.default_rng(seed)
    exc = rng.uniform(0, 0.3, (b, N, N))
    inh = rng.uniform(0, 0.2, (b, N, N))
    if sparse:
        exc *= rng.random((b, N, N)) < 0.5
        inh *= rng.random((b, N, N)) < 0.5
    delay = rng.uniform(0.0, 0.012, (N, N)) if delays else np.zeros((N, N))
    return NetworkSpec(exc, inh, rng.uniform(0.7, 1.0, (b, N)), rng.normal(0, 0.02, (b, N)),
                       rng.random((b, N)), delay)


def _params(model, b, **kw):
    values = read_params(model.PARAMS, {}, "model.params")
    return model.build(values, _net(b, **kw))


def _settings(model, **kw):
    dt = model.DEFAULT_DT_S
    base = {"dt_s": dt, "duration_s": 150 * dt, "transient_s": 20 * dt, "block_steps": 37}
    return Settings(**{**base, **kw})


def test_every_model_satisfies_the_protocol_and_its_capabilities():
    for model in MODELS.values():
        assert isinstance(model, NodeModel)
        assert model.CAPABILITIES <= ALL_CAPABILITIES
        if supports(model, KERNEL):
            assert isinstance(model.KERNEL, Kernel)
        if supports(model, DELAYS):
            assert callable(model.make_context) and callable(model.update_context)
        if supports(model, POST_STEP):
            assert callable(model.post_step)
    with pytest.raises(ValueError):
        supports(hopf, "teleport")


def test_drift_equals_the_written_out_equations():
    """Each rhs (the only copy in the package) against the equations written here independently."""
    rng = np.random.default_rng(1)
    p = _params(hopf, 3)
    z = rng.normal(0, 0.3, (3, N, 2)).astype(np.float32)
    x, y = z[..., 0], z[..., 1]
    lin = p.a_eff - (x * x + y * y)
    want = np.stack([np.einsum("bij,bj->bi", p.w, x) + lin * x - p.omega * y,
                     np.einsum("bij,bj->bi", p.w, y) + lin * y + p.omega * x], -1)
    np.testing.assert_allclose(hopf.drift(z, p), want, rtol=1e-5, atol=1e-6)

    p = _params(kuramoto, 3)
    th = rng.uniform(0, 2 * np.pi, (3, N, 1)).astype(np.float32)
    t = th[..., 0]
    want = p.omega + np.einsum("bjk,bjk->bj", p.w, np.sin(t[:, None, :] - t[:, :, None]))
    np.testing.assert_allclose(kuramoto.drift(th, p)[..., 0], want, rtol=1e-5, atol=1e-5)

    p = _params(wilson_cowan, 3)
    z = rng.uniform(0, 0.4, (3, N, 2)).astype(np.float32)
    e, i = z[..., 0].astype(float), z[..., 1].astype(float)
    s = wilson_cowan.sigmoid
    xe = p.w_ee * e - p.w_ie * i + np.einsum("bjk,bk->bj", p.exc, e) + p.p_e
    xi = p.w_ei * e - p.w_ii * i + np.einsum("bjk,bk->bj", p.inh, e) + p.p_i
    want = np.stack([(-e + (1 - p.r_e * e) * s(xe, p.a_e, p.theta_e)) / p.tau_e,
                     (-i + (1 - p.r_i * i) * s(xi, p.a_i, p.theta_i)) / p.tau_i], -1)
    np.testing.assert_allclose(wilson_cowan.drift(z, p), want, rtol=1e-5, atol=1e-4)


def test_fast_tanh_is_tanh_to_float32_rounding():
    import numba

    f = numba.njit(lambda a: np.array([wilson_cowan.fast_tanh(v) for v in a], dtype=np.float32))
    x = np.linspace(-12, 12, 200_001).astype(np.float32)
    assert np.abs(f(x) - np.tanh(x.astype(float))).max() < 1e-6


@pytest.mark.parametrize("name", ["hopf", "kuramoto", "wilson_cowan"])
@pytest.mark.parametrize("method", ["heun", "euler"])
def test_compiled_path_equals_numpy_reference(name, method):
    """Same noise (the items' Philox streams) and the same scheme: trajectories agree to float32 rounding.
    Wilson-Cowan runs with conduction delays (the kernel's ring buffer against the numpy DelayContext)."""
    model = MODELS[name]
    p = _params(model, 5, delays=(name == "wilson_cowan"))
    seeds = np.random.SeedSequence(8).spawn(5)
    out = {k: np.concatenate(simulate(model, p, seeds, _settings(model, kernel=k, method=method), Recorder), 1)
           for k in ("compiled", "numpy")}
    assert out["compiled"].shape == (170, 5, N)
    scale = np.abs(out["numpy"]).max()
    np.testing.assert_allclose(out["compiled"], out["numpy"], atol=2e-5 * max(scale, 1.0))
    assert np.abs(out["compiled"][1:] - out["compiled"][:-1]).max() > 1e-4  # it moved


@pytest.mark.parametrize("name", ["hopf", "kuramoto", "wilson_cowan"])
def test_items_bit_identical_across_threads_chunks_blocks_and_batches(name):
    model = MODELS[name]
    p = _params(model, 7, delays=(name == "wilson_cowan"), sparse=True)
    seeds = np.random.SeedSequence(9).spawn(7)
    ref = np.concatenate(simulate(model, p, seeds, _settings(model, n_threads=1, chunk_items=64), Recorder), 1)
    alt = np.concatenate(simulate(model, p, seeds, _settings(model, n_threads=2, chunk_items=3, block_steps=11),
                                  Recorder), 1)
    np.testing.assert_array_equal(ref, alt)
    from sim.network import take_items

    one = simulate(model, take_items(p, slice(4, 5)), seeds[4:5], _settings(model), Recorder)[0]
    np.testing.assert_array_equal(one[:, 0], ref[:, 4])


class _Reducer:
    """A ReducingSink recording what the kernel hands on."""

    def __init__(self, window, stride):
        self.reduction = (window, stride)
        self.blocks = []

    def push(self, obs, step0):
        raise AssertionError("a reducing sink must get samples")

    def push_samples(self, samples, step0):
        self.blocks.append((step0, samples.copy()))

    def result(self):
        return self.blocks


@pytest.mark.parametrize("window,stride", [(1, 5), (4, 1), (3, 2)])
def test_fused_observation_reduction_equals_reducing_the_trajectory(window, stride):
    p = _params(wilson_cowan, 3)
    seeds = np.random.SeedSequence(2).spawn(3)
    st = _settings(wilson_cowan, n_threads=1)
    full = simulate(wilson_cowan, p, seeds, st, Recorder)[0]  # (T, B, N) every step
    blocks = simulate(wilson_cowan, p, seeds, st, lambda n: _Reducer(window, stride))[0]
    got = np.concatenate([s for _, s in blocks])
    per = window * stride
    assert all(s0 % per == 0 for s0, _ in blocks)
    n_win = len(full) // per * stride
    means = full[:n_win * window].reshape(n_win, window, 3, N).mean(1)[stride - 1::stride]
    assert got.shape == means.shape
    np.testing.assert_allclose(got, means, rtol=1e-6, atol=1e-7)


def test_compiled_balloon_equals_numpy_balloon():
    from sim import bold

    rng = np.random.default_rng(5)
    u = rng.uniform(0, 0.5, (300, 4, 3))
    for constants in bold.CONSTANT_SETS.values():
        s0 = bold.init_state((4, 3))
        ref_state, ref = bold.integrate(s0, u, 0.01, constants)
        got_state, got = bold.integrate_compiled(s0, u, 0.01, constants)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(got_state.q, ref_state.q, rtol=1e-12)
        assert np.abs(ref).max() > 1e-3  # a real response
    with pytest.raises(FloatingPointError):
        bold.integrate_compiled(bold.init_state((2,)), np.full((50, 2), -10.0), 0.1)


def test_kernel_layout_arrays_are_aligned_and_equal():
    from sim.kernel import ALIGN_BYTES, aligned, sparse_rows, state_to_kernel, to_kernel

    rng = np.random.default_rng(0)
    a = rng.standard_normal((5, 7, 3))[:, ::2]  # not contiguous
    for got, want in [(aligned(a), a), (aligned(a, np.float32), a.astype(np.float32)),
                      (to_kernel(a), np.moveaxis(a, 0, -1)),
                      (to_kernel(a.astype(np.float16)), np.moveaxis(a.astype(np.float16), 0, -1).astype(np.float32)),
                      (state_to_kernel(a.astype(np.float32)), np.transpose(a, (2, 1, 0)).astype(np.float32))]:
        assert got.ctypes.data % ALIGN_BYTES == 0 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want)
    w = rng.standard_normal((4, 6, 6)) * (rng.random((6, 6)) < 0.5)
    assert all(v.ctypes.data % ALIGN_BYTES == 0 for v in sparse_rows(w.astype(np.float32))[:1])
    assert aligned(np.zeros(0)).size == 0


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_coupling_sums_equal_the_entry_ordered_sums_on_every_path(dtype):
    """Register tiles, single vectors and the scalar tail (sim.kernel.coupling_sums) give each item the sum
    sum_k w[k] x[j_k] taken in entry order from 0: bit-equal to the same sums in numpy, for chunk sizes that use
    every path, and for arrays that do not start on a vector boundary."""
    import numba

    from sim.kernel import TILE_VECTORS, VECTOR_BYTES, coupling_sums, sparse_rows

    @numba.njit
    def all_rows(wv, indptr, indices, x, y, cx, cy):
        for i in range(x.shape[0]):
            coupling_sums(wv, indptr, indices, x, y, cx[i], cy[i], i)

    lanes = VECTOR_BYTES // np.dtype(dtype).itemsize
    rng = np.random.default_rng(3)
    n = 9
    for nb in (1, lanes - 1, lanes, lanes + 1, TILE_VECTORS * lanes + lanes + 3, 2 * TILE_VECTORS * lanes):
        w = rng.standard_normal((nb, n, n)) * (rng.random((n, n)) < 0.6)
        w[:, 2] = 0.0  # a row without entries: its sums are 0
        wv, indptr, indices = sparse_rows(w.astype(dtype))
        assert indptr[3] == indptr[2]
        buf = rng.standard_normal(2 * n * nb + 1).astype(dtype)
        x, y = buf[1:].reshape(2, n, nb)  # offset by one element: unaligned rows
        cx, cy = np.empty((n, nb), dtype), np.empty((n, nb), dtype)
        all_rows(wv, indptr, indices, x, y, cx, cy)
        for i in range(n):
            ex, ey = np.zeros(nb, dtype), np.zeros(nb, dtype)
            for k in range(indptr[i], indptr[i + 1]):
                ex = ex + wv[k] * x[indices[k]]
                ey = ey + wv[k] * y[indices[k]]
            np.testing.assert_array_equal(cx[i], ex, err_msg=f"nb={nb} row {i}")
            np.testing.assert_array_equal(cy[i], ey, err_msg=f"nb={nb} row {i}")


def test_hopf_items_bit_identical_between_a_wide_chunk_and_narrow_ones():
    """A chunk wide enough for the coupling's register tiles gives every item the same bits as chunks of 5
    (scalar path only)."""
    from sim.kernel import TILE_VECTORS, VECTOR_BYTES

    b = TILE_VECTORS * VECTOR_BYTES // 4 + 21
    p = _params(hopf, b, sparse=True)
    seeds = np.random.SeedSequence(11).spawn(b)
    wide = np.concatenate(simulate(hopf, p, seeds, _settings(hopf, n_threads=1, chunk_items=b), Recorder), 1)
    narrow = np.concatenate(simulate(hopf, p, seeds, _settings(hopf, n_threads=2, chunk_items=5), Recorder), 1)
    np.testing.assert_array_equal(wide, narrow)
