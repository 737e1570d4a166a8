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
