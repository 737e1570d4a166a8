"""``dmnsim-sandbox``: a standard-library HTTP server for the teaching page (docs/sandbox.md).

* ``GET /`` and ``GET /static/<file>``: the page (plain HTML/CSS/JS from ``static/``; nothing from the internet,
  enforced by a Content-Security-Policy of ``'self'``).
* ``GET /api/controls``: the controls (ranges built from the models' :class:`sim.params.ParamSpec` tables),
  their defaults, the live scan times and the lessons.
* ``POST /api/simulate`` with a JSON object of controls: a small live timeline run (:func:`simulate`) as JSON:
  metric time courses, slow drug states, dosing events, cohort-mean FC matrices at every scan time (so the
  time-point control never needs the server) and the claims table. Bad controls give 400 and one clear line.

Results are cached by the (validated, rounded) control tuple: repeating a setting answers from memory.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import threading
import time
from collections import OrderedDict
from dataclasses import asdict, dataclass, fields
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import numpy as np

STATIC_DIR = Path(__file__).resolve().parent / "static"
DEFAULT_PORT = 8765
MODEL = "hopf"

#: Scan times of the live run (h from the first infusion): baseline, during the infusion, 2 h, then days
#: 1, 2, 4, 7, 11, 14 and 28. Every claims window of configs/claims/registry.yaml has at least one scan.
LIVE_SCANS_H = (-24.0, 0.33, 2.0, 24.0, 48.0, 96.0, 168.0, 264.0, 336.0, 672.0)
LIVE_SCAN_S = 120.0       # recorded part of each live scan (the CLI default is 600 s)
LIVE_TRANSIENT_S = 20.0   # discarded start (relaxation time ~1/|a| of a few seconds)
MAX_SUBJECTS = 24

#: Metrics drawn over time, in this order.
#: Slow states sent for the drug panel.
SLOW_VARS = ("plasma_ng_per_ml", "nmda_block", "plasticity", "tms_state")

PHENOTYPES = {
    "healthy": "healthy",
    "depressed_hyper": "depressed (hyperconnected DMN; Kaiser 2015)",
    "depressed_hypo": "depressed (hypoconnected DMN; Yan 2019)",
}

#: treatment key -> (label, protocol in configs/protocols/default.yaml, condition suffix, uses dose, is ketamine)
TREATMENTS = {
    "none": ("no treatment", "none", "", False, False),
    "ketamine_single": ("ketamine, one infusion (40 min)", "ketamine_single", "ketamine", True, True),
    "ketamine_repeated": ("ketamine, 6 infusions over 12 days (Murrough 2013)", "ketamine_murrough2013",
                          "ketamine_repeated", True, True),
    "ketamine_weekly": ("ketamine, weekly for 4 weeks", "ketamine_weekly", "ketamine_weekly", True, True),
    "placebo": ("saline placebo, one infusion", "placebo_single", "placebo", False, False),
    "tms": ("rTMS course to left DLPFC, 4 weeks of weekdays", "tms_course", "tms", False, False),
}
MECHANISMS = ("disinhibition", "trapping", "plasticity", "tms")
DOSE_RANGE = (0.05, 2.0)  # mg/kg; 0.5 is the antidepressant dose, 1-2 approach anaesthesia (Zanos 2018)


class ControlError(ValueError):
    """A control is unknown, of the wrong type or out of range (the API answers 400 with this message)."""


def _param_spec(name: str):
    from sim.models import MODELS

    for s in MODELS[MODEL].PARAMS:
        if s.name == name:
            return s
    raise KeyError(name)


def slider_range(name: str) -> dict:
    """Slider of a model parameter: the teaching range is [max(lo, default/4 for noise, lo for coupling),
    min(hi, 4 x default)] inside the parameter's allowed range; the server accepts the whole allowed range."""
    s = _param_spec(name)
    lo = s.lo if s.lo is not None else 0.0
    hi = s.hi if s.hi is not None else 4 * s.default
    slider_lo = max(lo, s.default / 4) if name == "sigma" else lo
    slider_hi = min(hi, 4 * s.default)
    return {"min": slider_lo, "max": slider_hi, "step": round((slider_hi - slider_lo) / 40, 6), "default": s.default,
            "unit": s.unit, "allowed": [s.lo, s.hi], "source": s.source, "doc": s.doc}


@dataclass(frozen=True)
class Controls:
    """Everything that changes the live simulation (the time point does not: it only selects a scan)."""

    phenotype: str = "depressed_hyper"
    treatment: str = "ketamine_single"
    dose_mg_per_kg: float = 0.5
    disinhibition: bool = True
    trapping: bool = True
    plasticity: bool = True
    tms: bool = True
    coupling: float = 0.3
    noise: float = 0.02
    n_subjects: int = 8


DEFAULT_CONTROLS = Controls()
_IGNORED_KEYS = {"time_h"}  # accepted (the page sends it) but not part of the simulation


def _number(key: str, v, lo: float, hi: float, lo_open: bool = False) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise ControlError(f"{key}: expected a number, got {v!r}")
    x = float(v)
    if not math.isfinite(x) or x < lo or x > hi or (lo_open and x == lo):
        raise ControlError(f"{key}: {v!r} is out of range; allowed {'(' if lo_open else '['}{lo:g}, {hi:g}]")
    return x


def parse_controls(data) -> Controls:
    """Validate a JSON object of controls (missing keys take the defaults); raise :class:`ControlError`."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ControlError(f"controls: expected a JSON object, got {type(data).__name__}")
    names = [f.name for f in fields(Controls)]
    unknown = sorted(set(data) - set(names) - _IGNORED_KEYS)
    if unknown:
        raise ControlError(f"unknown control {unknown[0]!r}; allowed: {', '.join(names + sorted(_IGNORED_KEYS))}")
    d = {**asdict(DEFAULT_CONTROLS), **{k: v for k, v in data.items() if k in names}}
    if d["phenotype"] not in PHENOTYPES:
        raise ControlError(f"phenotype: unknown value {d['phenotype']!r}; allowed: {', '.join(PHENOTYPES)}")
    if d["treatment"] not in TREATMENTS:
        raise ControlError(f"treatment: unknown value {d['treatment']!r}; allowed: {', '.join(TREATMENTS)}")
    for m in MECHANISMS:
        if not isinstance(d[m], bool):
            raise ControlError(f"{m}: expected true or false, got {d[m]!r}")
    d["dose_mg_per_kg"] = round(_number("dose_mg_per_kg", d["dose_mg_per_kg"], *DOSE_RANGE), 3)
    g, s = _param_spec("global_coupling"), _param_spec("sigma")
    d["coupling"] = round(_number("coupling", d["coupling"], g.lo, g.hi), 4)
    # zero noise leaves the network at its fixed point: no fluctuations, so no correlations to show
    d["noise"] = round(_number("noise", d["noise"], s.lo, s.hi, lo_open=True), 5)
    n = d["n_subjects"]
    if isinstance(n, bool) or not isinstance(n, (int, float)) or n != int(n) or not 2 <= n <= MAX_SUBJECTS:
        raise ControlError(f"n_subjects: expected a whole number in [2, {MAX_SUBJECTS}], got {n!r}")
    d["n_subjects"] = int(n)
    if not TREATMENTS[d["treatment"]][3]:
        d["dose_mg_per_kg"] = DEFAULT_CONTROLS.dose_mg_per_kg  # the dose does not matter: one cache entry
    return Controls(**d)


# ------------------------------------------------------------------------------------------ config
def condition_plan(c: Controls) -> tuple[dict[str, dict], str, str]:
    """Conditions of the live run, named as in configs/experiment/default.yaml so the claims registry finds them.

    Returns ({name: {phenotype, protocol[, dose_mg_per_kg]}}, treated name, control name). Ketamine is compared
    with saline, placebo and TMS with the untreated group; depressed runs add ``healthy`` (the registry's
    normalisation reference).
    """
    group = "healthy" if c.phenotype == "healthy" else "depressed"
    _, protocol, suffix, uses_dose, is_ketamine = TREATMENTS[c.treatment]
    conds: dict[str, dict] = {group: {"phenotype": c.phenotype, "protocol": "none"}}
    if group == "depressed":
        conds["healthy"] = {"phenotype": "healthy", "protocol": "none"}
    treated = control = group
    if suffix:
        treated = f"{group}_{suffix}"
        spec = {"phenotype": c.phenotype, "protocol": protocol}
        if uses_dose:
            spec["dose_mg_per_kg"] = c.dose_mg_per_kg
        conds[treated] = spec
        if is_ketamine:
            control = f"{group}_placebo"
            conds[control] = {"phenotype": c.phenotype, "protocol": "placebo_single"}
    return conds, treated, control


_BASE_LOCK = threading.Lock()
_BASE = None


def _base_config():
    global _BASE
    with _BASE_LOCK:
        if _BASE is None:
            from sim.config import load_config

            _BASE = load_config(["progress=false", "~experiment.dose_response", f"model={MODEL}",
                                 f"scan.duration_s={LIVE_SCAN_S}", f"scan.transient_s={LIVE_TRANSIENT_S}"])
        return _BASE


def build_config(c: Controls):
    """The composed config of the live run for these controls (a copy of the default config, edited)."""
    from omegaconf import open_dict

    cfg = copy.deepcopy(_base_config())
    conds, _, _ = condition_plan(c)
    with open_dict(cfg):
        cfg.cohort.n_subjects = c.n_subjects
        cfg.model.params.global_coupling = c.coupling
        cfg.model.params.sigma = c.noise
        for m in MECHANISMS:
            cfg.drug.mechanisms[m] = bool(getattr(c, m))
        if c.phenotype != "healthy":
            cfg.phenotype = copy.deepcopy(cfg.phenotypes[c.phenotype])
        cfg.experiment.name = "sandbox"
        cfg.experiment.scans_h = list(LIVE_SCANS_H)
        cfg.experiment.select = None
        cfg.experiment.conditions = conds
    return cfg


# ------------------------------------------------------------------------------------------ payload
def _r(x, digits: int = 4):
    """Round for JSON; NaN -> None."""
    a = np.asarray(x, dtype=float)
    out = np.round(a, digits).tolist()
    if np.isnan(a).any():
        if a.ndim == 0:
            return None
        out = json.loads(json.dumps(out).replace("NaN", "null"))
    return out


def _claims_payload(ds) -> dict:
    from sim.claims import contradictions, evaluate, evaluate_claim
    from sim.report import contrast_text, readout_text

    reg = _registry()
    primary = {r.claim_id: r for r in evaluate(ds, reg)}
    # windows only for the claims of the contradiction pairs (all claims x all windows doubles the time)
    in_pairs = {cid for p in reg.contradictions for cid in p.ids}
    by_window = {(c.id, w): evaluate_claim(ds, c, reg, w) for c in reg.testable if c.id in in_pairs
                 and not c.reference_window for w in reg.timeline_windows}
    rows = []
    for c in reg.claims:
        r = primary[c.id]
        rows.append({"id": c.id, "claim": c.claim, "source": c.source, "testable": c.testable,
                     "readout": readout_text(c) if c.testable else "",
                     "contrast": contrast_text(c) if c.testable else "",
                     "window": reg.windows[c.window].label if c.window else "",
                     "expected": r.expected, "effect": _r(r.effect), "low": _r(r.low), "high": _r(r.high),
                     "n": int(r.n), "verdict": r.verdict, "reason": r.reason,
                     "literature": c.literature.verdict})
    labels = {w: reg.windows[w].label for w in reg.timeline_windows}
    pairs = [{"ids": list(p.ids), "about": p.about, "verdicts": [x.verdict for x in p.primary],
              "holds_in": [[labels[w] for w in ws] for ws in p.holds_in_windows]}
             for p in contradictions(reg, primary, by_window)]
    return {"rows": rows, "contradictions": pairs}


_REGISTRY = None


def _registry():
    global _REGISTRY
    if _REGISTRY is None:
        from sim.claims import load_registry

        _REGISTRY = load_registry(None)
    return _REGISTRY


def _build_payload(c: Controls) -> dict:
    from sim.experiment import run_timeline
    from sim.plots._common import condition_labels, metric_label, network_style
    from sim.schema import vocabulary

    t0 = time.perf_counter()
    cfg = build_config(c)
    conds, treated, control = condition_plan(c)
    ds = run_timeline(cfg)
    t_sim = time.perf_counter() - t0
    names = [str(x) for x in ds["condition"].values]
    networks = [str(x) for x in ds["network"].values]
    style = network_style(ds)
    net_order = list(style)
    order = sorted(range(len(networks)), key=lambda i: (net_order.index(networks[i]), i))
    regions = [str(ds["region"].values[i]) for i in order]
    blocks, start = [], 0
    for net in dict.fromkeys(networks[i] for i in order):
        n = sum(1 for i in order if networks[i] == net)
        blocks.append({"name": net, "label": style[net]["label"], "color": style[net]["color"],
                       "start": start, "end": start + n})
        start += n
    fc = ds["fc"].isel(region=order, region_to=order).mean("subject")
    metrics = list(vocabulary(ds).key_metrics)[:6]  # the key metrics of the metrics config
    means = {m: {k: _r(ds[m].sel(condition=k).mean("subject").values) for k in names} for m in metrics}
    n_s = ds.sizes["subject"]
    sems = {m: {k: _r(ds[m].sel(condition=k).std("subject", ddof=1).values / math.sqrt(n_s)) for k in names}
            for m in metrics}
    fine = ds["time_fine_h"].values
    keep = np.flatnonzero((fine <= 72) | (np.arange(fine.size) % 6 == 0))  # 10-min steps to day 3, then hourly
    slow = {"time_h": _r(fine[keep], 3)}
    for v in SLOW_VARS:
        if v in ds:
            slow[v] = {k: _r(ds[v].sel(condition=k).mean("subject").values[keep]) for k in (treated, control)}

    def events(var):
        vals = ds[var].sel(condition=treated).values
        return _r(vals[np.isfinite(vals)], 3)

    t1 = time.perf_counter()
    claims = _claims_payload(ds)
    t_claims = time.perf_counter() - t1
    role = {treated: "treated", control: "control"}
    return {
        "controls": asdict(c),
        "conditions": [{"name": k, "label": condition_labels(ds)[k], "role": role.get(k, "reference"),
                        "phenotype": conds[k]["phenotype"], "protocol": conds[k]["protocol"]} for k in names],
        "treated": treated, "control": control,
        "times_h": _r(ds["time_h"].values, 3),
        "metrics": {"names": metrics, "labels": {m: metric_label(m)[0].split(" (")[0] for m in metrics}, "mean": means,
                    "sem": sems},
        "slow": slow,
        "events": {"infusion_h": events("infusion_h"), "dose_mg_per_kg": events("infusion_dose_mg_per_kg"),
                   "tms_h": events("tms_session_h")},
        "regions": {"names": regions, "network": [networks[i] for i in order],
                    "x": _r(ds["mni_x"].values[order], 1), "y": _r(ds["mni_y"].values[order], 1),
                    "z": _r(ds["mni_z"].values[order], 1)},
        "networks": blocks,
        "fc": {k: _r(fc.sel(condition=k).values, 3) for k in names},
        "claims": claims,
        "cohort": {"n_subjects": int(n_s), "scan_duration_s": LIVE_SCAN_S, "n_scans": len(LIVE_SCANS_H),
                   "n_items": int(len(names) * n_s * len(LIVE_SCANS_H)), "model": MODEL},
        "timing": {"simulate_s": round(t_sim, 3), "claims_s": round(t_claims, 3),
                   "total_s": round(time.perf_counter() - t0, 3)},
    }


class _Cache:
    """LRU cache of encoded payloads by control tuple; one simulation at a time (the runs use all cores)."""

    def __init__(self, size: int = 64):
        self.size, self.data, self.lock, self.run_lock = size, OrderedDict(), threading.Lock(), threading.Lock()

    def get(self, c: Controls) -> tuple[bytes, bool]:
        with self.lock:
            if c in self.data:
                self.data.move_to_end(c)
                return self.data[c], True
        with self.run_lock:
            with self.lock:  # another thread may have computed it while we waited
                if c in self.data:
                    return self.data[c], True
            body = json.dumps(_build_payload(c), separators=(",", ":"), allow_nan=False).encode()
            with self.lock:
                self.data[c] = body
                while len(self.data) > self.size:
                    self.data.popitem(last=False)
        return body, False

    def clear(self) -> None:
        with self.lock:
            self.data.clear()


CACHE = _Cache()


def simulate(controls: dict | Controls | None = None) -> dict:
    """Run (or fetch from the cache) the live simulation for ``controls``; the page's JSON as a dict,
    plus ``cached`` (bool) and ``server_s`` (seconds this call took)."""
    t0 = time.perf_counter()
    c = controls if isinstance(controls, Controls) else parse_controls(controls)
    body, cached = CACHE.get(c)
    out = json.loads(body)
    out.update(cached=cached, server_s=round(time.perf_counter() - t0, 4))
    return out


def controls_spec() -> dict:
    """What the page needs to build its controls and lessons (GET /api/controls)."""
    from sim.sandbox.lessons import LESSONS

    return {
        "defaults": asdict(DEFAULT_CONTROLS),
        "phenotypes": PHENOTYPES,
        "treatments": {k: {"label": v[0], "protocol": v[1], "uses_dose": v[3]} for k, v in TREATMENTS.items()},
        "mechanisms": list(MECHANISMS),
        "dose": {"min": DOSE_RANGE[0], "max": DOSE_RANGE[1], "step": 0.05, "default": DEFAULT_CONTROLS.dose_mg_per_kg,
                 "unit": "mg/kg"},
        "coupling": slider_range("global_coupling"),
        "noise": slider_range("sigma"),
        "n_subjects": {"min": 2, "max": MAX_SUBJECTS, "step": 1, "default": DEFAULT_CONTROLS.n_subjects},
        "times_h": list(LIVE_SCANS_H),
        "default_time_h": 24.0,
        "live": {"scan_duration_s": LIVE_SCAN_S, "n_scans": len(LIVE_SCANS_H), "model": MODEL},
        "lessons": list(LESSONS),
    }


# ------------------------------------------------------------------------------------------ HTTP
_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
          ".css": "text/css; charset=utf-8", ".png": "image/png", ".svg": "image/svg+xml"}
_CSP = "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; connect-src 'self'"


class Handler(BaseHTTPRequestHandler):
    server_version = "dmnsim-sandbox"
    quiet = False

    def log_message(self, fmt, *args):  # noqa: D401 - one short line per request unless quiet
        if not self.quiet:
            sys.stderr.write(f"{self.address_string()} {fmt % args}\n")

    def _send(self, status: int, body: bytes, ctype: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("Content-Security-Policy", _CSP)
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, obj) -> None:
        self._send(status, json.dumps(obj, separators=(",", ":")).encode())

    def do_GET(self):  # noqa: N802 - http.server's naming
        path = self.path.split("?", 1)[0]
        if path in ("/", "/index.html"):
            return self._static("index.html")
        if path.startswith("/static/"):
            return self._static(path.removeprefix("/static/"))
        if path == "/api/controls":
            return self._json(200, controls_spec())
        if path == "/api/health":
            return self._json(200, {"ok": True})
        return self._json(404, {"error": f"not found: {path}"})

    def _static(self, name: str) -> None:
        f = (STATIC_DIR / name).resolve()
        if STATIC_DIR not in f.parents or not f.is_file():
            return self._json(404, {"error": f"not found: {name}"})
        self._send(200, f.read_bytes(), _TYPES.get(f.suffix, "application/octet-stream"))

    def do_POST(self):  # noqa: N802
        path = self.path.split("?", 1)[0]
        if path != "/api/simulate":
            return self._json(404, {"error": f"not found: {path}"})
        try:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b"{}"
            try:
                data = json.loads(raw.decode("utf-8") or "{}")
            except (UnicodeDecodeError, json.JSONDecodeError) as e:
                raise ControlError(f"request body is not valid JSON: {e}") from None
            c = parse_controls(data)
        except ControlError as e:
            return self._json(400, {"error": str(e)})
        from sim.errors import ConfigError
        from sim.integrate import IntegrationError

        t0 = time.perf_counter()
        try:
            body, cached = CACHE.get(c)
        except (ConfigError, IntegrationError) as e:
            return self._json(400, {"error": f"the model cannot run these settings: {e}"})
        # splice the per-request fields into the cached JSON object without re-encoding it
        extra = json.dumps({"cached": cached, "server_s": round(time.perf_counter() - t0, 4)})[1:-1]
        self._send(HTTPStatus.OK, body[:-1] + b"," + extra.encode() + b"}")


def make_server(port: int = DEFAULT_PORT, host: str = "127.0.0.1", quiet: bool = False) -> ThreadingHTTPServer:
    """A server bound to ``host:port`` (``port`` 0 picks a free port: read ``server.server_address``)."""
    handler = type("SandboxHandler", (Handler,), {"quiet": quiet})
    httpd = ThreadingHTTPServer((host, port), handler)
    httpd.daemon_threads = True
    return httpd


def warm(controls_list) -> None:
    """Fill the cache for these controls (run in a background thread at start-up)."""
    for c in controls_list:
        try:
            CACHE.get(c)
        except Exception as e:  # noqa: BLE001 - warming is best effort; the request will report the error
            print(f"dmnsim-sandbox: warming failed for {c}: {e}", file=sys.stderr)


def lesson_controls() -> list[Controls]:
    from sim.sandbox.lessons import LESSONS

    out = [DEFAULT_CONTROLS]
    for lesson in LESSONS:
        c = parse_controls(lesson["controls"])
        if c not in out:
            out.append(c)
    return out


def main(argv=None) -> None:
    p = argparse.ArgumentParser(prog="dmnsim-sandbox", description="Serve the dmn-sim teaching sandbox on localhost.")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port (default {DEFAULT_PORT}; 0 = a free port)")
    p.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1, this computer only)")
    p.add_argument("--no-warm", action="store_true", help="do not precompute the default and lesson settings")
    p.add_argument("--quiet", action="store_true", help="do not log each request")
    a = p.parse_args(argv)
    try:
        httpd = make_server(a.port, a.host, a.quiet)
    except OSError as e:
        print(f"dmnsim-sandbox: error: cannot listen on {a.host}:{a.port}: {e} (try --port 0)", file=sys.stderr)
        sys.exit(2)
    _base_config(), _registry()  # compose the config and load the registry once, before the first request
    host, port = httpd.server_address[:2]
    print(f"dmnsim-sandbox: open http://{host}:{port}/ in your browser (Ctrl+C stops)", flush=True)
    if not a.no_warm:
        threading.Thread(target=warm, args=(lesson_controls(),), daemon=True).start()
    try:
        httpd.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        httpd.server_close()


if __name__ == "__main__":
    main()
