r"""Connectivity metrics on BOLD-like signals: one table of names, definitions and units.

Two stages, so that memory stays flat in simulated duration:

1. :class:`OnlineStats` consumes blocks of BOLD samples at the TR, ``(T, items, regions)``, and keeps
   only running sums (mean, cross-products), the Kuramoto order parameter's first two moments and a
   DMN-dominance counter.
2. :func:`metrics_from_stats` turns those sums into named metrics per item.

Phases for synchrony come from complex demodulation (Bloomfield 2000, *Fourier analysis of time
series*, ch. 7): the signal is shifted by :math:`e^{-i\omega_0 t}` and low-pass filtered
(Butterworth, ``scipy.signal.sosfilt`` with carried state), which is a causal, streaming version of
the band-passed analytic signal used for BOLD phase synchrony (0.04-0.07 Hz, Glerean et al. 2012
Brain Connect 2:91; Deco et al. 2017). The same demodulated signal gives each network's activity
envelope for the DMN-dominance dwell fraction, independent of each model's baseline level.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numba
import numpy as np
import scipy.signal

from sim.atlas import Atlas, resolve_many
from sim.errors import ConfigError
from sim.schema import ENGINES  # noqa: F401  (re-exported: the engines of MetricSettings.engine)
from sim.stats import cov_to_corr

#: name -> (definition, unit). Network-level names are added for every network of the atlas.
METRIC_TABLE: dict[str, tuple[str, str]] = {
    "fc_within_{net}": ("mean Pearson FC over all distinct region pairs within network {net}", "r"),
    "fc_{a}_{b}": ("mean Pearson FC over all region pairs between networks {a} and {b}; "
                   "negative = anticorrelated", "r"),
    "fc_<pair>": ("mean Pearson FC between the two named seed sets of a literature seed pair "
                  "(configs/metrics)", "r"),
    "amp_{net}": ("activity of network {net}: mean over its regions of ln(SD of the region's BOLD signal over the "
                  "scan), the diagonal of the scan covariance; a difference of 0.05 = about 5 % more fluctuation "
                  "amplitude (an ALFF-like amplitude measure, Zang et al. 2007 Brain Dev 29:83)", "ln"),
    "task_dmn_per_tpn": ("task block on the TPN, linear response of the model (sim/claims/task.py): mean DMN "
                         "signal change during the block divided by the mean change of the driven TPN regions; "
                         "negative = reciprocal (the DMN goes down while the TPN goes up)", "1"),
    "task_recovery_s": ("task block on the TPN, linear response of the model (sim/claims/task.py): time after the "
                        "block until the DMN's mean signal stays within 10 % of its largest deviation during it", "s"),
    "gbc_mean": ("global brain connectivity: mean over regions of each region's mean FC with all "
                 "others (Cole et al. 2010 NeuroImage 49:3132)", "r"),
    "synchrony": ("time mean of the Kuramoto order parameter R(t) = |mean_j exp(i phi_j(t))| of the "
                  "0.04-0.07 Hz BOLD phases", "1 (0..1)"),
    "metastability": ("standard deviation over time of R(t) (Deco et al. 2017 Sci Rep 7:3095)", "1"),
    "dmn_dwell_fraction": ("share of TR samples in which the DMN's activity exceeds the TPN's; activity = "
                           "envelope (amplitude) of the network-mean 0.04-0.07 Hz signal", "1 (0..1)"),
}

#: per-region variables in the results (dims item x region)
REGION_METRICS = {"gbc": ("mean FC of a region with all other regions", "r"),
                  "amp": ("activity of a region: ln(SD of its BOLD signal over the scan), from the diagonal of the "
                          "scan covariance (an ALFF-like amplitude, Zang et al. 2007 Brain Dev 29:83)", "ln")}


@dataclass(frozen=True)
class MetricSettings:
    tr_s: float = 2.0
    band_hz: tuple[float, float] = (0.04, 0.07)
    gsr: bool = False
    dominance: tuple[str, str] = ("DMN", "TPN")
    engine: str = "simulated"   # one of ENGINES



class OnlineStats:
    """Running sums over BOLD samples for a chunk of items.

    ``push(y, record)``: y (T, B, N) float BOLD samples; ``record`` (T,) bool, False for the
    transient (the demodulation filter still runs so that it is settled when recording starts).
    One pass per block in compiled code (:func:`_push_compiled`); the numpy + ``scipy.signal.sosfilt``
    formulation of the same sums is the reference it is tested against (tests/test_metrics.py).
    """

    def __init__(self, n_items: int, n_regions: int, settings: MetricSettings, dom_a: np.ndarray,
                 dom_b: np.ndarray):
        b, n = n_items, n_regions
        self.n = 0
        self.s1 = np.zeros((n, b))  # kernel layout (region, item)
        self.pair_i, self.pair_j = np.triu_indices(n)  # region pairs i <= j
        self.s2 = np.zeros((len(self.pair_i), b))  # sum y_i y_j per pair and item; the square is made in result()
        self.r1 = np.zeros(b)
        self.r2 = np.zeros(b)
        self.dwell = np.zeros(b)
        self.t_index = 0
        fs = 1.0 / settings.tr_s
        lo, hi = settings.band_hz
        if not 0 < lo < hi < fs / 2:
            raise ConfigError(f"metrics.band_hz: {settings.band_hz} must satisfy 0 < lo < hi < Nyquist "
                              f"({fs / 2:g} Hz at tr_s={settings.tr_s:g})")
        self.w0 = 2 * np.pi * (lo + hi) / 2 / fs  # rad per sample
        self.sos = scipy.signal.butter(2, (hi - lo) / 2, btype="low", fs=fs, output="sos")
        # filter state of scipy.signal.sosfilt's direct form II transposed, real and imaginary parts
        self.zr = np.zeros((self.sos.shape[0], 2, n, b))
        self.zi = np.zeros((self.sos.shape[0], 2, n, b))
        self.wa, self.wb = np.zeros(n), np.zeros(n)  # network-mean weights: 1/|set| on the set's regions
        np.add.at(self.wa, np.asarray(dom_a, int), 1.0 / max(len(dom_a), 1))
        np.add.at(self.wb, np.asarray(dom_b, int), 1.0 / max(len(dom_b), 1))
        self.dominance = len(dom_a) > 0 and len(dom_b) > 0  # an empty set has no envelope (dwell stays 0)

    def push(self, y: np.ndarray, record: np.ndarray) -> None:
        """Add a block of samples y (T, B, N) (any layout; the kernels' (T, N, B) transposed view is free)."""
        y = np.asarray(y)
        yk = np.ascontiguousarray(y.transpose(0, 2, 1), dtype=np.float64 if y.dtype == np.float64 else np.float32)
        record = np.ascontiguousarray(record, dtype=np.bool_)
        if record.shape != (len(y),):
            raise ValueError(f"record must have one flag per sample ({len(y)}), got shape {record.shape}")
        _push_compiled(yk, record, self.t_index, self.w0, self.sos, self.zr, self.zi, self.s1, self.s2, self.pair_i,
                       self.pair_j, self.r1, self.r2, self.dwell, self.wa, self.wb, self.dominance)
        self.t_index += len(y)
        self.n += int(record.sum())

    def result(self) -> dict:
        n = max(self.n, 1)
        mean = self.s1.T / n
        s2 = np.empty((self.s2.shape[1], len(self.s1), len(self.s1)))
        s2[:, self.pair_i, self.pair_j] = self.s2.T
        s2[:, self.pair_j, self.pair_i] = self.s2.T
        cov = s2 / n - mean[:, :, None] * mean[:, None, :]
        r_mean = self.r1 / n
        r_var = np.maximum(self.r2 / n - r_mean**2, 0.0)
        return {"cov": cov, "mean": mean, "sync": r_mean, "meta": np.sqrt(r_var),
                "dwell": self.dwell / n, "n_samples": np.full(len(mean), self.n)}


@numba.njit(nogil=True, cache=True, error_model="numpy")
def _push_compiled(y, record, t0, w0, sos, zr, zi, s1, s2, pair_i, pair_j, r1, r2, dwell, wa, wb,
                   dominance):  # pragma: no cover
    r"""One block of :meth:`OnlineStats.push`, y (T, N, B). Per sample t (absolute index t0 + t):

    * demodulation x = y e^{-i w0 t} and Butterworth low-pass lp (``scipy.signal.sosfilt``'s direct form II
      transposed per section: out = b0 x + z0, z0 = b1 x - a1 out + z1, z1 = b2 x - a2 out), real and
      imaginary parts carried in zr, zi (S, 2, N, B); the filter runs over every sample;
    * recorded samples add to s1 (N, B) = sum y, s2 (P, B) = sum y_i y_j over the pairs (pair_i, pair_j), the
      Kuramoto order parameter R = |mean_i lp_i / |lp_i|| to r1, r2 (its first two moments), and to ``dwell`` when the
      envelope |sum_i wa_i lp_i| of network a exceeds network b's.
    Loops over items innermost (unit stride, vectorised).
    """
    n_t, n, nb = y.shape
    n_sec = sos.shape[0]
    xr = np.empty(nb)
    xi = np.empty(nb)
    phr = np.empty(nb)
    phi = np.empty(nb)
    ear = np.empty(nb)
    eai = np.empty(nb)
    ebr = np.empty(nb)
    ebi = np.empty(nb)
    for t in range(n_t):
        ang = w0 * (t0 + t)
        c = np.cos(ang)
        s = -np.sin(ang)
        rec = record[t]
        if rec:
            phr[:] = 0.0
            phi[:] = 0.0
            ear[:] = 0.0
            eai[:] = 0.0
            ebr[:] = 0.0
            ebi[:] = 0.0
        for i in range(n):
            yi = y[t, i]
            for b in range(nb):
                v = np.float64(yi[b])
                xr[b] = v * c
                xi[b] = v * s
            for q in range(n_sec):
                b0, b1, b2, a1, a2 = sos[q, 0], sos[q, 1], sos[q, 2], sos[q, 4], sos[q, 5]
                z0r, z1r, z0i, z1i = zr[q, 0, i], zr[q, 1, i], zi[q, 0, i], zi[q, 1, i]
                for b in range(nb):
                    outr = b0 * xr[b] + z0r[b]
                    outi = b0 * xi[b] + z0i[b]
                    z0r[b] = b1 * xr[b] - a1 * outr + z1r[b]
                    z0i[b] = b1 * xi[b] - a1 * outi + z1i[b]
                    z1r[b] = b2 * xr[b] - a2 * outr
                    z1i[b] = b2 * xi[b] - a2 * outi
                    xr[b] = outr
                    xi[b] = outi
            if rec:
                wai = wa[i]
                wbi = wb[i]
                s1i = s1[i]
                for b in range(nb):
                    s1i[b] += yi[b]
                    inv = 1.0 / max(np.sqrt(xr[b] * xr[b] + xi[b] * xi[b]), 1e-300)
                    phr[b] += xr[b] * inv
                    phi[b] += xi[b] * inv
                    ear[b] += wai * xr[b]
                    eai[b] += wai * xi[b]
                    ebr[b] += wbi * xr[b]
                    ebi[b] += wbi * xi[b]
        if rec:
            inv_n = 1.0 / n
            for b in range(nb):
                r = np.sqrt(phr[b] * phr[b] + phi[b] * phi[b]) * inv_n
                r1[b] += r
                r2[b] += r * r
                if dominance and ear[b] * ear[b] + eai[b] * eai[b] > ebr[b] * ebr[b] + ebi[b] * ebi[b]:
                    dwell[b] += 1.0
    for p in range(pair_i.shape[0]):  # s2: one pair at a time over the block, its (B,) sums stay in L1
        yi_ = pair_i[p]
        yj_ = pair_j[p]
        acc = s2[p]
        for t in range(n_t):
            if record[t]:
                ri = y[t, yi_]
                rj = y[t, yj_]
                for b in range(nb):
                    acc[b] += np.float64(ri[b]) * np.float64(rj[b])


def concat_results(parts: list[dict]) -> dict:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def fc_from_cov(cov: np.ndarray, gsr: bool = False) -> np.ndarray:
    """Pearson FC (B, N, N) from covariance; with ``gsr`` the global mean signal is regressed out first.

    GSR in closed form: with g = mean_k x_k, residual r_i = x_i - b_i g, b_i = cov(x_i, g)/var(g),
    cov(r_i, r_j) = C_ij - C_ig C_jg / C_gg (Murphy et al. 2009 NeuroImage 44:893).
    """
    c = cov
    if gsr:
        cg = c.mean(-1)  # cov(x_i, g)
        gg = cg.mean(-1)  # var(g)
        c = c - cg[:, :, None] * cg[:, None, :] / gg[:, None, None]
    return cov_to_corr(c)


def gbc_from_fc(fc: np.ndarray) -> np.ndarray:
    """Global brain connectivity per region (..., N): mean FC with every other region (Cole et al. 2010)."""
    n = fc.shape[-1]
    return (fc.sum(-1) - np.diagonal(fc, axis1=-2, axis2=-1)) / (n - 1)


def amp_from_cov(cov: np.ndarray) -> np.ndarray:
    """Activity per region (..., N): ln SD = 0.5 ln C_ii of the BOLD covariance C of a scan (simulated scans:
    the sample covariance; the linear engine: the stationary covariance of the linearised network, so SD_i =
    sqrt(C_ii) exactly, with no sampling noise). A difference of 0.05 is about 5 % more fluctuation amplitude."""
    return 0.5 * np.log(np.maximum(np.diagonal(cov, axis1=-2, axis2=-1), 1e-300))


def _block_mean(fc: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Mean FC over pairs (i in a, j in b), i != j."""
    mask = np.zeros(fc.shape[-2:], dtype=bool)
    mask[np.ix_(a, b)] = True
    np.fill_diagonal(mask, False)
    if not mask.any():
        return np.full(fc.shape[0], np.nan)
    return fc[:, mask].mean(-1)


def seed_pairs_from_config(atlas: Atlas, cfg: Mapping) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Resolve ``metrics.seed_pairs`` ({name: {a: [...], b: [...], source: ...}}) to index sets.

    A pair naming a region that the atlas dropped is left out; a name that is neither a region nor a
    network of the atlas config is an error.
    """
    out = {}
    for name, spec in (cfg or {}).items():
        key = f"metrics.seed_pairs.{name}"
        try:
            a = resolve_many(atlas, spec["a"], f"{key}.a")
            b = resolve_many(atlas, spec["b"], f"{key}.b")
        except KeyError:
            raise ConfigError(f"{key}: needs lists 'a' and 'b' of region or network names") from None
        if len(a) and len(b):  # a side made only of dropped regions leaves the pair out
            out[f"fc_{name}"] = (a, b)
        elif atlas.missing(list(spec["a"]) + list(spec["b"])):  # the atlas has no such structure: NaN, kept
            out[f"fc_{name}"] = (a, b)
    return out


def not_available_metrics(atlas: Atlas, cfg: Mapping) -> dict[str, str]:
    """Seed-pair metrics this atlas cannot compute (NaN in the results), with the reason (atlas.not_available)."""
    out = {}
    for name, spec in (cfg or {}).items():
        miss = atlas.missing(list(spec.get("a", [])) + list(spec.get("b", [])))
        if miss:
            out[f"fc_{name}"] = "; ".join(f"{k}: {v}" for k, v in miss.items())
    return out


def metrics_from_stats(stats: dict, atlas: Atlas, pairs: Mapping[str, tuple[np.ndarray, np.ndarray]],
                       gsr: bool = False) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Named scalar metrics per item and the FC matrices.

    Returns (metrics: name -> (B,), fc: (B, N, N)).
    """
    fc = fc_from_cov(stats["cov"], gsr)
    out: dict[str, np.ndarray] = {}
    nets = atlas.networks
    idx = {net: atlas.members(net) for net in nets}
    for net in nets:
        out[f"fc_within_{net.lower()}"] = _block_mean(fc, idx[net], idx[net])
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            out[f"fc_{a.lower()}_{b.lower()}"] = _block_mean(fc, idx[a], idx[b])
    for name, (a, b) in pairs.items():
        out[name] = _block_mean(fc, a, b)
    log_sd = amp_from_cov(stats["cov"])
    for net in nets:
        out[f"amp_{net.lower()}"] = log_sd[:, idx[net]].mean(-1)
    out["gbc_mean"] = gbc_from_fc(fc).mean(-1)
    out["synchrony"] = stats["sync"]
    out["metastability"] = stats["meta"]
    out["dmn_dwell_fraction"] = stats["dwell"]
    return out, fc


def describe(name: str) -> tuple[str, str]:
    """Definition and unit of a metric name (for reports and the CSV's companion table)."""
    if name in METRIC_TABLE:
        return METRIC_TABLE[name]
    if name.startswith("amp_"):
        d, u = METRIC_TABLE["amp_{net}"]
        return d.format(net=name.removeprefix("amp_").upper()), u
    if name.startswith("fc_within_"):
        d, u = METRIC_TABLE["fc_within_{net}"]
        return d.format(net=name.removeprefix("fc_within_").upper()), u
    parts = name.removeprefix("fc_").split("_")
    if len(parts) == 2 and all(p.upper() in ("DMN", "SN", "TPN", "LIMBIC", "OTHER") for p in parts):
        d, u = METRIC_TABLE["fc_{a}_{b}"]
        return d.format(a=parts[0].upper(), b=parts[1].upper()), u
    return METRIC_TABLE["fc_<pair>"]
