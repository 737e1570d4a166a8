"""``dmnsim-sandbox``: a standard-library HTTP server for the teaching page (docs/sandbox.md).

* ``GET /`` and ``GET /static/<file>``: the page (plain HTML/CSS/JS from ``static/``; nothing from the internet,
  enforced by a Content-Security-Policy of ``'self'``).
* ``GET /api/controls``: the controls (ranges built from the models' :class:`sim.params.ParamSpec` tables),
  their defaults, the live scan times and the lessons.
* ``POST /api/simulate`` with a JSON object of controls: a small live timeline run (:func:`simulate`) as JSON:
  metric time courses, slow drug states, dosing events, cohort-mean FC matrices at every scan time (so the
  time-point control never needs the server). ``POST /api/claims``: the claims table of the same setting (the page
  asks for it after drawing the plots); ``POST /api/progress``: how far a setting's simulation is. Bad controls give
  400 and one clear line.

Results are cached by the (validated, rounded) control tuple: repeating a setting answers from memory.

Modules: :mod:`sim.sandbox.controls` (controls, validation, the live run's config), :mod:`sim.sandbox.payload`
(run -> the page's JSON), :mod:`sim.sandbox.jobs` (bounded cache and simulation queue), :mod:`sim.sandbox.http`
(the HTTP layer: limits, timeouts, errors). This module is the entry point and re-exports their public names.
"""

from __future__ import annotations

import argparse
import sys
import threading

from sim.sandbox.controls import (  # noqa: F401 - re-exported
    DEFAULT_CONTROLS,
    DEFAULT_PORT,
    DOSE_RANGE,
    LIVE_SCAN_S,
    LIVE_SCANS_H,
    LIVE_TRANSIENT_S,
    MAX_SUBJECTS,
    MECHANISMS,
    MODEL,
    PHENOTYPES,
    SLOW_VARS,
    STATIC_DIR,
    TREATMENTS,
    ControlError,
    Controls,
    _base_config,
    build_config,
    condition_plan,
    controls_spec,
    parse_controls,
    slider_range,
    slow_key,
)
from sim.sandbox.http import Handler, PooledHTTPServer, make_server  # noqa: F401 - re-exported
from sim.sandbox.jobs import CACHE, Busy, Cache, simulate  # noqa: F401 - re-exported
from sim.sandbox.payload import _registry, build_payload, claims_payload  # noqa: F401 - re-exported


def warm(controls_list) -> None:
    """Fill the caches for these controls, plots first, then their claims (run in a background thread at
    start-up; the claims worker gives way to any request)."""
    for c in controls_list + controls_list:
        try:
            CACHE.get(c) if c not in CACHE.data else CACHE.get_claims(c)
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
