r"""Counter-based noise for the compiled kernels: Philox4x64-10 and a branch-free Box-Muller transform.

Generator: Philox4x64-10 (Salmon, Moraes, Dror & Shaw 2011, "Parallel random numbers: as easy as 1, 2, 3",
SC'11, DOI 10.1145/2063384.2063405), the same function as :class:`numpy.random.Philox` (bit-identical,
tested in tests/test_rng.py). It maps a 256-bit counter and a 128-bit key to 256 random bits, so any
item's noise at any step is computed directly from (key, counter) with no sequential state: results do
not depend on thread counts, chunk sizes, batch composition or block lengths.

Keys and counters:

* every item owns one :class:`numpy.random.SeedSequence` (built by the caller, e.g.
  :func:`sim.cohort.noise_seeds`); its kernel key is ``seq.generate_state(2, np.uint64)`` (:func:`item_keys`);
* the noise of integration step ``n`` uses counters ``(n, j, NOISE_TAG, 0)`` for ``j = 0, 1, ...``; each
  call gives 4 words = 8 normals; the initial state is drawn by numpy's ``Philox`` with the same key and
  counter word 3 = ``INIT_TAG`` (:func:`init_generator`), a disjoint counter range.

Normals (Box & Muller 1958, Ann Math Stat 29:610): each 64-bit word w gives two independent N(0, 1):
:math:`u_1 = (\lfloor w / 2^{40} \rfloor + 1/2) 2^{-24}` (24 bits), :math:`\theta = \frac{\pi}{2}(a + 1/2) 2^{-24}`
from 24 further bits a, and two sign bits :math:`s_c, s_s`:
:math:`(n_1, n_2) = \sqrt{-2 \ln u_1}\,(s_c \cos\theta, s_s \sin\theta)` (random signs put theta in a uniform
quadrant, so the angle is uniform on the circle). ln, cos and sin are evaluated with float32 polynomials
(argument reduction by the float's exponent; |t| <= pi/4 Taylor series), so the loop over items has no
branches or library calls and vectorises. The 24-bit u_1 truncates the normal at
:math:`\sqrt{2 \cdot 25 \ln 2} = 5.89` (probability of a larger |N(0,1)|: 4e-9), documented, not hidden.
"""

from __future__ import annotations

from collections.abc import Sequence

import numba
import numpy as np
from numba.cpython.unsafe.numbers import leading_zeros

NOISE_TAG = 0
INIT_TAG = 1 << 63
NORMALS_PER_CALL = 8
MAX_ABS_NORMAL = float(np.sqrt(2 * 25 * np.log(2)))

_U64 = np.uint64
_M0 = _U64(0xD2E7470EE14C6C93)
_M1 = _U64(0xCA5A826395121157)
_W0 = _U64(0x9E3779B97F4A7C15)
_W1 = _U64(0xBB67AE8584CAA73B)
_MASK32 = _U64(0xFFFFFFFF)
_S32 = _U64(32)


def item_keys(seeds: Sequence[np.random.SeedSequence]) -> np.ndarray:
    """Philox keys (B, 2) uint64, one per item, derived deterministically from each item's SeedSequence."""
    if len(seeds) == 0:
        return np.zeros((0, 2), np.uint64)
    return np.stack([s.generate_state(2, np.uint64) for s in seeds])


def init_generator(key: np.ndarray) -> np.random.Generator:
    """numpy Generator for an item's initial state: Philox with the item's key, counter range INIT_TAG."""
    return np.random.Generator(np.random.Philox(key=np.asarray(key, np.uint64), counter=[0, 0, 0, INIT_TAG]))


@numba.njit(inline="always")
def padded(m):
    """m rounded up to a whole number of Philox calls (8 normals each)."""
    return (m + NORMALS_PER_CALL - 1) // NORMALS_PER_CALL * NORMALS_PER_CALL


@numba.njit(inline="always")
def _mulhilo(a, b):
    """(high, low) 64-bit words of the 128-bit product a * b (uint64)."""
    al = a & _MASK32
    ah = a >> _S32
    bl = b & _MASK32
    bh = b >> _S32
    ll = al * bl
    lh = al * bh
    hl = ah * bl
    mid = (ll >> _S32) + (lh & _MASK32) + (hl & _MASK32)
    hi = ah * bh + (lh >> _S32) + (hl >> _S32) + (mid >> _S32)
    return hi, a * b


@numba.njit(inline="always")
def philox4x64(c0, c1, c2, c3, k0, k1):
    """Philox4x64-10 block function: 4 counter words, 2 key words -> 4 random words (all uint64)."""
    for r in range(10):
        if r > 0:
            k0 = k0 + _W0
            k1 = k1 + _W1
        hi0, lo0 = _mulhilo(_M0, c0)
        hi1, lo1 = _mulhilo(_M1, c2)
        c0, c1, c2, c3 = hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0
    return c0, c1, c2, c3


_M0_LO, _M0_HI = _U64(int(_M0) & 0xFFFFFFFF), _U64(int(_M0) >> 32)
_M1_LO, _M1_HI = _U64(int(_M1) & 0xFFFFFFFF), _U64(int(_M1) >> 32)


@numba.njit(inline="always")
def _mulhilo_const(al, ah, b):
    """_mulhilo for a constant a given as its 32-bit halves (al, ah)."""
    bl = b & _MASK32
    bh = b >> _S32
    ll = al * bl
    lh = al * bh
    hl = ah * bl
    mid = (ll >> _S32) + (lh & _MASK32) + (hl & _MASK32)
    return ah * bh + (lh >> _S32) + (hl >> _S32) + (mid >> _S32), (ll & _MASK32) | (mid << _S32)


@numba.njit(inline="always")
def _round(c0, c1, c2, c3, k0, k1):
    hi0, lo0 = _mulhilo_const(_M0_LO, _M0_HI, c0)
    hi1, lo1 = _mulhilo_const(_M1_LO, _M1_HI, c2)
    return hi1 ^ c1 ^ k0, lo1, hi0 ^ c3 ^ k1, lo0


@numba.njit(nogil=True, error_model="numpy")
def philox_lanes(k0, k1, c0, c1, c2, c3, w0, w1, w2, w3):  # pragma: no cover - compiled
    """:func:`philox4x64` for B items at once (keys k0, k1 (B,), one counter): words into w0..w3 (B,).

    The item loop is the innermost loop of every round, so it vectorises (8 items per AVX-512 op).
    """
    nb = k0.shape[0]
    for b in range(nb):
        w0[b], w1[b], w2[b], w3[b] = _round(c0, c1, c2, c3, k0[b], k1[b])
    for r in range(1, 10):
        b0 = _W0 * np.uint64(r)
        b1 = _W1 * np.uint64(r)
        for b in range(nb):
            w0[b], w1[b], w2[b], w3[b] = _round(w0[b], w1[b], w2[b], w3[b], k0[b] + b0, k1[b] + b1)


@numba.njit(nogil=True, cache=True)
def philox_block(keys, counters):  # pragma: no cover - compiled
    """Philox4x64-10 of every (key, counter) pair: keys (B, 2), counters (K, 4) -> (K, 4, B) uint64."""
    out = np.empty((counters.shape[0], 4, keys.shape[0]), np.uint64)
    for k in range(counters.shape[0]):
        for b in range(keys.shape[0]):
            r = philox4x64(counters[k, 0], counters[k, 1], counters[k, 2], counters[k, 3], keys[b, 0], keys[b, 1])
            out[k, 0, b], out[k, 1, b], out[k, 2, b], out[k, 3, b] = r
    return out


_LN2 = np.float32(0.6931471805599453)
_SQRT2 = np.float32(1.4142135623730951)
_INV_SQRT2 = np.float32(0.7071067811865476)
_PI_2 = np.float32(np.pi / 2)
_PI_4 = np.float32(np.pi / 4)
_TWO_M24 = np.float32(2.0 ** -24)
_HALF = np.float32(0.5)
_ONE = np.float32(1.0)
_TWO = np.float32(2.0)


@numba.njit(inline="always")
def _ln_mantissa(m):
    """ln m for m in [sqrt(1/2), sqrt(2)): 2 atanh(s), s = (m-1)/(m+1), |s| <= 0.172, series to s^9 (rel. 3e-10)."""
    s = (m - _ONE) / (m + _ONE)
    s2 = s * s
    p = np.float32(1 / 9)
    p = p * s2 + np.float32(1 / 7)
    p = p * s2 + np.float32(1 / 5)
    p = p * s2 + np.float32(1 / 3)
    p = p * s2 + _ONE
    return _TWO * s * p


@numba.njit(inline="always")
def _sin_cos(t):
    """(sin t, cos t) for |t| <= pi/4 by Taylor series to t^9 / t^8 (errors < 2e-9, < 3e-8)."""
    t2 = t * t
    s = np.float32(1 / 362880)
    s = s * t2 - np.float32(1 / 5040)
    s = s * t2 + np.float32(1 / 120)
    s = s * t2 - np.float32(1 / 6)
    s = (s * t2 + _ONE) * t
    c = np.float32(1 / 40320)
    c = c * t2 - np.float32(1 / 720)
    c = c * t2 + np.float32(1 / 24)
    c = c * t2 - _HALF
    c = c * t2 + _ONE
    return s, c


@numba.njit(nogil=True, error_model="numpy")
def normals_step(k0, k1, step, out, words):  # pragma: no cover - compiled
    """Fill out (M, B) float32 with the standard normals of integration ``step`` for B items.

    k0, k1: (B,) uint64 key words; scratch: words (4, B) uint64. Normal ``i`` of an item comes from call
    ``i // 8`` (counter (step, i // 8, NOISE_TAG, 0)), word ``(i % 8) // 2``, component ``i % 2``.
    ln u1 by integer argument reduction: with v = 2 floor(w / 2^40) + 1 (odd, < 2^25), u1 = v 2^-25,
    e = floor(log2 v) (leading-zero count) and mantissa m = v 2^-e in [1, 2) (a variable shift), halved with
    e + 1 when m > sqrt 2; ln u1 = (e - 25) ln 2 + ln m. The loop over items is one branch-free pass with
    no library calls, so it vectorises (AVX-512: vplzcntd, vpsllvd, vsqrtps).
    """
    m, nb = out.shape  # m: a multiple of NORMALS_PER_CALL (callers pad)
    c0 = np.uint64(step)
    tag = np.uint64(NOISE_TAG)
    zero = np.uint64(0)
    sh40 = np.uint64(40)
    sh8 = np.uint64(8)
    m24 = np.uint64(0xFFFFFF)
    one64 = np.uint64(1)
    two64 = np.uint64(2)
    for j in range(m // NORMALS_PER_CALL):
        philox_lanes(k0, k1, c0, np.uint64(j), tag, zero, words[0], words[1], words[2], words[3])
        for w in range(4):
            cos_row = out[j * NORMALS_PER_CALL + 2 * w]
            sin_row = out[j * NORMALS_PER_CALL + 2 * w + 1]
            wrow = words[w]
            for b in range(nb):
                word = wrow[b]
                # radius sqrt(-2 ln u1)
                v = np.uint32(((word >> sh40) << one64) | one64)  # numba widens uint32 arithmetic: cast once
                e = np.int32(31) - np.int32(leading_zeros(v))
                mant = np.float32(np.int32(np.uint32(v << np.uint32(24 - e)))) * _TWO_M24
                big = np.float32(mant > _SQRT2)
                mant = mant * (_ONE - _HALF * big)
                ln_u1 = (np.float32(e - np.int32(25)) + big) * _LN2 + _ln_mantissa(mant)
                rad = np.sqrt(max(-_TWO * ln_u1, np.float32(0.0)))
                # direction: two sign bits and an angle in [-pi/4, pi/4] rotated by pi/4
                a = np.float32(np.int32((word >> sh8) & m24))
                sc = _ONE - _TWO * np.float32(np.int32(word & one64))
                ss = _ONE - np.float32(np.int32(word & two64))
                s, c = _sin_cos((a + _HALF) * (_TWO_M24 * _PI_2) - _PI_4)
                sin_row[b] = ss * (c + s) * (_INV_SQRT2 * rad)
                cos_row[b] = sc * (c - s) * (_INV_SQRT2 * rad)


@numba.njit(nogil=True, cache=True, error_model="numpy")
def normals(keys, step0, n_steps, m):  # pragma: no cover - compiled
    """The normals the kernels draw for steps step0 .. step0 + n_steps - 1: (n_steps, m, B) float32.

    Used by the numpy reference path of :mod:`sim.integrate` and by the tests; the kernels call
    :func:`normals_step` inside their loop instead.
    """
    nb = keys.shape[0]
    mpad = padded(m)
    out = np.empty((n_steps, mpad, nb), np.float32)
    words = np.empty((4, nb), np.uint64)
    k0 = keys[:, 0].copy()
    k1 = keys[:, 1].copy()
    for k in range(n_steps):
        normals_step(k0, k1, step0 + k, out[k], words)
    return out[:, :m]
