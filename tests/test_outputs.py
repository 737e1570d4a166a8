"""Outputs that explain themselves: CF attributes on results.nc, CSVW metadata next to metrics.csv (sim/cf.py)."""

from __future__ import annotations

import csv
import json

import xarray as xr

from sim.runio import provenance, write_run
from tests.synthetic import synthetic_dataset


def test_results_nc_follows_cf_and_metrics_csv_has_its_metadata(tmp_path):
    ds = synthetic_dataset(n_subjects=3, conditions=("depressed", "depressed_ketamine"),
                           scan_times_h=(-24.0, 0.33, 24.0), fine_step_h=2.0, seed=1)
    ds.attrs.update(experiment="tiny", model="hopf", seed=7)
    metrics = ds.attrs["metrics"].split(",")
    prov = provenance(7, 1.0)
    write_run(tmp_path / "run", ds, metrics, "a: 1\n", prov)
    out = xr.open_dataset(tmp_path / "run" / "results.nc", engine="h5netcdf")
    for name in out.variables:
        v = out[name]
        assert v.attrs.get("long_name"), name
        if v.dtype.kind in "biufc":
            assert v.attrs.get("units"), name
    assert out["time_h"].attrs["units"] == "h" and out["dose_mg_per_kg"].attrs["units"] == "mg kg-1"
    assert out["plasma_ng_per_ml"].attrs["units"] == "ng mL-1" and out["mni_x"].attrs["units"] == "mm"
    g = out.attrs
    assert g["Conventions"].startswith("CF-") and g["title"] and g["history"]
    assert prov["version"] in g["source"] and str(prov["git_commit"] or "unknown") in g["source"]
    assert int(g["seed"]) == 7 and g["run_id"] == prov["run_id"]
    out.close()
    meta = json.loads((tmp_path / "run" / "metrics.csv-metadata.json").read_text())
    assert meta["dmnsim:seed"] == 7 and meta["dmnsim:run_id"] == prov["run_id"]
    with (tmp_path / "run" / "metrics.csv").open() as f:
        header = next(csv.reader(f))
    assert header == [c["name"] for c in meta["tableSchema"]["columns"]] == \
        ["condition", "subject", "time_h", "metric", "value"]
    assert set(meta["dmnsim:metrics"]) == set(metrics)
    # the run id is a content id: same config and seed, same id
    prov2 = provenance(7, 2.0)
    write_run(tmp_path / "run2", ds, metrics, "a: 1\n", prov2)
    assert prov2["run_id"] == prov["run_id"]


def test_provenance_wall_time_includes_the_output_phase(tmp_path, monkeypatch):
    """provenance.json is written last: its wall_time_s covers figures and report (a 0.3-s output step here),
    simulation_wall_time_s only the simulation."""
    import time

    from omegaconf import OmegaConf

    from sim.run import OutputStep, Run

    ds = synthetic_dataset(n_subjects=2, conditions=("depressed",), scan_times_h=(-24.0, 24.0), fine_step_h=6.0,
                           seed=1)
    ds.attrs.update(experiment="tiny", model="hopf", seed=7)
    cfg = OmegaConf.create({"progress": False, "experiment": {"name": "tiny"}, "figure_formats": []})
    run = Run(cfg=cfg, ds=ds, metric_names=ds.attrs["metrics"].split(","), summary="", kind="timeline", seed=7,
              model="hopf", sim_s=0.01, started=time.perf_counter())
    monkeypatch.setattr(Run, "steps", lambda self, figures=None: [OutputStep.single("slow", lambda d: time.sleep(0.3))])
    prov = json.loads((run.write(tmp_path / "run") / "provenance.json").read_text())
    assert prov["simulation_wall_time_s"] == 0.01
    assert prov["wall_time_s"] >= 0.3


def _pandas_tidy_csv(ds, metric_names) -> str:
    """The reference: the long table through pandas (what sim.runio.tidy_frame wrote before it formatted by hand)."""
    da = ds[list(metric_names)].to_array("metric").transpose("metric", "condition", "subject", "time_h")
    df = da.to_dataframe(name="value").reset_index()[["condition", "subject", "time_h", "metric", "value"]]
    return df.to_csv(index=False, float_format="%.6g", lineterminator="\n")


def test_metrics_csv_text_is_pandas_to_csv_byte_for_byte():
    """Awkward values (NaN, ±inf, -0, tiny, huge, float32, many digits) and names that need CSV quoting."""
    import numpy as np

    from sim.runio import tidy_frame

    rng = np.random.default_rng(5)
    conds = ["plain", 'with "quote"', "with,comma", "two\nlines"]
    shape = (len(conds), 3, 4)
    a = rng.normal(size=shape) * 10.0 ** rng.integers(-8, 9, size=shape)
    a.flat[:8] = [np.nan, np.inf, -np.inf, -0.0, 5e-324, 1.7e308, 123456.5, 0.1 + 0.2]
    ds = xr.Dataset({"m_a": (("condition", "subject", "time_h"), a),
                     "m,b": (("condition", "subject", "time_h"), rng.normal(size=shape).astype("float32"))},
                    coords={"condition": conds, "subject": [0, 7, 12],
                            "time_h": [-24.0, 0.3333333333, 1e6, np.nan]})
    for names in (["m_a"], ["m_a", "m,b"], ["m,b", "m_a"]):
        assert tidy_frame(ds, names) == _pandas_tidy_csv(ds, names)
    syn = synthetic_dataset(n_subjects=4, seed=2)
    names = syn.attrs["metrics"].split(",")
    assert tidy_frame(syn, names) == _pandas_tidy_csv(syn, names)
