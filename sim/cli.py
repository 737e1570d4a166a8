"""``dmnsim``: the Hydra command-line entry point (a thin shell around :mod:`sim.run`).

Composes the config, checks it (:func:`sim.run.preflight`), runs the simulation and publishes the run
directory in one rename (:class:`sim.runio.Stage`). Bad input, a full disk or an unwritable directory exit with
code 2 and one line naming the key (or the path) and what is allowed; SIGINT/SIGTERM remove the staging
directory; nothing half-written is ever left under the run directory's name.
"""

from __future__ import annotations

import shutil
import signal
import sys
import time
from pathlib import Path

import hydra
from omegaconf import DictConfig

from sim.config import CONFIG_DIR
from sim.errors import ConfigError

#: Hydra launchers and sweepers the project uses (configs/experiment/dose_response.yaml); any other is refused
ALLOWED_PLUGIN_TARGETS = (
    "hydra._internal.core_plugins.basic_launcher.BasicLauncher",
    "hydra._internal.core_plugins.basic_sweeper.BasicSweeper",
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
)
EXIT_BAD_INPUT = 2
MAX_JOB_DIR_CHARS = 200  # a file name may have 255 bytes on common file systems


def job_dir_name(override_dirname, num) -> str:
    """A sweep job's directory name (``hydra.sweep.subdir``): its overrides as Hydra joins them
    (``dose_mg_per_kg=0.5,experiment=dose_response``) with path separators replaced, so the name says what the
    job is; the job number if it has no override; the number and the cut name if too long."""
    name = str(override_dirname or "").replace("/", "_").replace("\\", "_").strip(".") or str(num)
    return name if len(name) <= MAX_JOB_DIR_CHARS else f"{num}_{name[:MAX_JOB_DIR_CHARS - 10]}"


def _register_resolvers() -> None:
    from omegaconf import OmegaConf

    if not OmegaConf.has_resolver("dmnsim_job_dir"):
        OmegaConf.register_new_resolver("dmnsim_job_dir", job_dir_name)


_register_resolvers()  # at import: launchers' worker processes import this module to run the task


class _Stderr:
    """stderr that remembers whether the last write ended a line (a progress bar leaves a fragment), so an error
    message always starts on its own line."""

    def __init__(self):
        self.mid_line = False

    @property
    def stream(self):
        return sys.stderr

    def __reduce__(self):  # launchers (joblib) pickle the task: rebuild on the worker's own stderr
        return (_Stderr, ())

    def write(self, s: str) -> int:
        if s:
            self.mid_line = not s.endswith("\n")
        return self.stream.write(s)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def __getattr__(self, name):
        if name.startswith("__") or name == "mid_line":
            raise AttributeError(name)
        return getattr(self.stream, name)


ERR = _Stderr()


def fail(msg: str, code: int = EXIT_BAD_INPUT):
    """One line on stderr (on its own line) and exit ``code``."""
    line = " ".join(str(msg).split())  # one line whatever the message holds
    if ERR.mid_line:
        ERR.write("\n")
    ERR.write(f"dmnsim: error: {line}\n")
    ERR.flush()
    sys.exit(code)


def check_hydra(hcfg) -> None:
    """Refuse Hydra callbacks and launchers/sweepers outside :data:`ALLOWED_PLUGIN_TARGETS`."""
    cbs = hcfg.get("callbacks") or {}
    if len(cbs):
        raise ConfigError(f"hydra.callbacks.{next(iter(cbs))}: Hydra callbacks are not allowed (a config cannot make "
                          f"dmnsim run other code)")
    for part in ("launcher", "sweeper"):
        target = (hcfg.get(part) or {}).get("_target_")
        if target is not None and target not in ALLOWED_PLUGIN_TARGETS:
            raise ConfigError(f"hydra.{part}._target_: {target!r} is not allowed; allowed: "
                              f"{', '.join(t.rsplit('.', 1)[1] for t in ALLOWED_PLUGIN_TARGETS)}")


def _guard_callbacks() -> None:
    """Hydra instantiates ``hydra.callbacks`` before the task runs; refuse them there, before anything is called."""
    from hydra._internal import callbacks as hcb

    original = hcb.Callbacks.__init__
    if getattr(original, "_dmnsim_guard", False):
        return

    def init(self, config=None):
        from omegaconf import OmegaConf

        cbs = OmegaConf.select(config, "hydra.callbacks") if config is not None else None
        if cbs:
            fail(f"hydra.callbacks.{next(iter(cbs))}: Hydra callbacks are not allowed (a config cannot make dmnsim "
                 f"run other code)")
        original(self, config)

    init._dmnsim_guard = True
    hcb.Callbacks.__init__ = init


def _set_signal(sig, handler) -> None:
    try:
        signal.signal(sig, handler)
    except (ValueError, TypeError):  # not the main thread (a launcher's worker thread): leave it
        pass


_INTERRUPTED: list[str] = []  # signals received; checked again before publishing (an exception raised inside a
                              # finalizer or weakref callback is swallowed by Python, so raising alone is not enough)


def _interrupt(signum, frame):
    _INTERRUPTED.append(signal.Signals(signum).name)
    raise KeyboardInterrupt(signal.Signals(signum).name)


def _unraisable(hook):
    def handle(u):
        if u.exc_type is not None and issubclass(u.exc_type, KeyboardInterrupt):
            return  # recorded in _INTERRUPTED; the run stops at the next check
        hook(u)
    return handle


def execute(cfg: DictConfig, run_dir: Path, changed=(), hydra_cfg=None) -> Path:
    """Check, run and publish one job as ``run_dir``; bad input or an I/O failure exit 2 with one line.

    On any failure or SIGINT/SIGTERM the staging directory is removed, and ``run_dir`` too if it holds only
    Hydra's own files of this run."""
    from sim.integrate import IntegrationError
    from sim.run import preflight, run
    from sim.runio import RunExistsError, Stage, check_free_space

    t0 = time.perf_counter()
    old = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT)}
    stage = Stage(run_dir)
    stage.abort_check = _check_interrupted
    existed_with_results = False
    try:
        for s in old:
            _set_signal(s, _interrupt)
        if hydra_cfg is not None:
            check_hydra(hydra_cfg)
        if cfg.experiment.get("kind") == "fit":  # the connectome fit (sim/fit.py) writes its own outputs
            _execute_fit(cfg, run_dir, stage)
            return run_dir
        warnings, world = preflight(cfg, changed)
        for w in warnings:
            print(f"dmnsim: warning: {w}", file=ERR)
        from sim.validate import estimate

        try:
            stage.open()
        except RunExistsError:
            existed_with_results = True
            raise
        check_free_space(stage.path, estimate(cfg).n_items)
        r = run(cfg, changed, progress_file=ERR, checked=True, world=world, figures_dir=stage.path / "figures")
        _check_interrupted()
        r.write(run_dir, stage, progress_file=ERR)
    except (ConfigError, IntegrationError, RunExistsError) as e:
        _cleanup(stage, run_dir, existed_with_results)
        fail(str(e))
    except OSError as e:  # a full disk, a read-only or vanished directory: never a half-written run
        _cleanup(stage, run_dir, existed_with_results)
        where = f" {e.filename}" if getattr(e, "filename", None) else ""
        fail(f"cannot write the run directory {run_dir}:{where} {e.strerror or e}; choose another hydra.run.dir or "
             f"free some space")
    except KeyboardInterrupt as e:
        _cleanup(stage, run_dir, existed_with_results)
        fail(f"interrupted ({e or 'SIGINT'}); nothing was written", 130)
    except BaseException:
        _cleanup(stage, run_dir, existed_with_results)
        raise
    finally:
        for s, h in old.items():
            _set_signal(s, h)
    print(r.summary)
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    print(f"results: {run_dir.resolve()}")
    for line in report_lines(run_dir):
        print(line)
    return run_dir


def report_lines(run_dir: Path) -> list[str]:
    """The CLI's last lines: where the run's report.html is and how to open it (none if the run has no report)."""
    page = (run_dir / "report.html").resolve()
    if not page.is_file():
        return []
    opener = "open" if sys.platform == "darwin" else "xdg-open"  # the desktop's default browser
    return [f"report:  {page}",
            f"open it: {opener} {page}   (or: python -m webbrowser {page.as_uri()})"]


class _StageBars:
    """One progress bar per stage of a run that reports ``update(label, done, total)`` (the connectome fit):
    a new label closes the previous stage's bar and opens the next one, its total known from the start."""

    def __init__(self, enabled: bool):
        self.enabled, self.bar, self.label = enabled, None, None

    def update(self, label: str, done: int, total: int) -> None:
        from sim.run import _progress_bar

        if label != self.label:
            self.close()
            unit = "item-steps" if "simulation" in label else "step"
            self.bar, self.label = _progress_bar(self.enabled, total, label, ERR, unit), label
        self.bar.update(done - self.bar.n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None

    def __enter__(self):
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _execute_fit(cfg, run_dir: Path, stage) -> None:
    """``experiment=fit_connectome``: fit the coupling to empirical FC, write into the staging directory, publish
    it in one rename (as every run)."""
    from omegaconf import OmegaConf

    from sim.fit import run_fit, summary_text, write_fit

    t0 = time.perf_counter()
    stage.open()
    with _StageBars(bool(cfg.get("progress", True))) as bars:
        fit = run_fit(cfg, progress=bars.update)
    write_fit(fit, stage.path, OmegaConf.to_yaml(cfg, resolve=True), tuple(cfg.get("figure_formats", ["png"]) or ()))
    _check_interrupted()
    stage.publish()
    print(summary_text(fit))
    print(f"wall time {time.perf_counter() - t0:.1f} s")
    print(f"results: {run_dir.resolve()}")
    for line in report_lines(run_dir):
        print(line)


def _check_interrupted() -> None:
    if _INTERRUPTED:
        raise KeyboardInterrupt(_INTERRUPTED[0])


def _cleanup(stage, run_dir: Path, keep_run_dir: bool) -> None:
    stage.discard()
    if not keep_run_dir:
        _remove_fresh(run_dir)


def _remove_fresh(run_dir: Path) -> None:
    """Remove a run directory this run created if it holds no results (only Hydra's own files)."""
    from sim.runio import RESULT_FILES

    if run_dir.is_dir() and not any((run_dir / f).exists() for f in RESULT_FILES):
        shutil.rmtree(run_dir, ignore_errors=True)


@hydra.main(config_path=str(CONFIG_DIR), config_name="config", version_base="1.3")
def _hydra_main(cfg: DictConfig) -> None:
    from hydra.core.hydra_config import HydraConfig

    from sim.validate import changed_keys

    hc = HydraConfig.get()
    execute(cfg, Path(hc.runtime.output_dir), changed_keys(list(hc.overrides.task)), hc)


def _precompose(argv: list[str]) -> None:
    """Compose the config once before Hydra does, so a bad override is one line and exit 2 (Hydra's own report is
    several lines and exit 1). Only for plain single runs; flags and sweeps are left to Hydra."""
    if any(a.startswith("-") for a in argv) or any("," in a.split("=", 1)[-1] for a in argv if "=" in a):
        return
    from hydra import compose, initialize_config_dir
    from hydra.core.global_hydra import GlobalHydra
    from hydra.errors import HydraException
    from omegaconf.errors import OmegaConfBaseException

    try:
        GlobalHydra.instance().clear()
        with initialize_config_dir(config_dir=str(CONFIG_DIR), version_base="1.3"):
            hcfg = compose(config_name="config", overrides=argv, return_hydra_config=True)
        check_hydra(hcfg.hydra)
    except ConfigError as e:
        fail(str(e))
    except (HydraException, OmegaConfBaseException, ValueError) as e:
        fail(_bad_override(argv) or _hydra_message(e))
    finally:
        GlobalHydra.instance().clear()


def _bad_override(argv: list[str]) -> str | None:
    """The first override Hydra's grammar cannot parse, as one line naming its key."""
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from hydra.errors import HydraException

    parser = OverridesParser.create()
    for o in argv:
        try:
            parser.parse_overrides([o])
        except HydraException as e:
            key = o.split("=", 1)[0].lstrip("+~") or "override"
            detail = " ".join(str(e).split("\n")[0].split())
            return (f"{key}: cannot read the value in {o[:80]!r} ({detail}); quote strings, write lists as [a,b] "
                    f"(override grammar: https://hydra.cc/docs/advanced/override_grammar/basic)")
    return None


def _hydra_message(e: BaseException) -> str:
    """Hydra's composition error as one line naming the key."""
    import re

    text = str(e)
    m = re.search(r"Could not find '([^']+)/([^']+)'", text)
    if m:
        group, opts = m.group(1), re.findall(r"^\t(\S+)$", text, re.M)
        return f"{group.replace('/', '.')}: unknown value {m.group(2)!r}; allowed: {', '.join(opts)}"
    first = next((ln.strip() for ln in text.splitlines() if ln.strip()), type(e).__name__)
    m = re.search(r"Could not (?:override|append to|delete from) '([^']+)'", text)
    if m:
        detail = [ln.strip() for ln in text.splitlines() if ln.strip()][1:2]
        return f"{m.group(1)}: {first.split('.', 1)[-1].strip() or first} {' '.join(detail)}".strip()
    return f"override: {first}"


def main() -> None:
    for s in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):  # a signal during start-up: a quiet exit
        signal.signal(s, _interrupt)
    sys.unraisablehook = _unraisable(sys.unraisablehook)
    try:
        _guard_callbacks()
        _precompose(sys.argv[1:])
        _hydra_main()
    except KeyboardInterrupt as e:
        fail(f"interrupted ({e or 'SIGINT'}); nothing was written", 130)


if __name__ == "__main__":
    main()
