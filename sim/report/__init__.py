"""The claims report of a run: ``claims.csv``, ``claims_by_window.csv``, ``claims_ablation.csv``, the claims
figures, ``report.md`` and a self-contained ``report.html`` (no external links, opens without network access).

Content (built once as a list of blocks in :mod:`sim.report.blocks`, rendered by :mod:`sim.report.render`):
what the run was, how to read the report, the side-by-side table (seed claim | literature verdict | simulation
verdict | effect (95% CI) | time window | depends on), the claims the model cannot test, contradiction pairs,
the verdict in every time window, the claims x mechanisms matrix (with ``experiment=claims``), the run's key
figures, the details of every claim, the verdict rule and caveats, and a glossary. Every verdict and effect
comes from :mod:`sim.claims`.
"""

from __future__ import annotations

import csv
from pathlib import Path

from sim.claims.ablation import matrix_rows, observed_dependence, shifted_by
from sim.claims.assess import Assessment, assess
from sim.report.blocks import ReportContext, run_info
from sim.report.figures import fig_effects, fig_matrix, fig_windows, save_fig
from sim.report.render import write_report
from sim.report.text import contrast_text, readout_text

__all__ = ["CLAIMS_COLUMNS", "claims_rows", "contrast_text", "readout_text", "write_claims_outputs"]

CLAIMS_COLUMNS = ("id", "source", "seed_file", "seed_quote", "claim", "testable", "not_testable_reason", "readout",
                  "contrast", "population", "window", "window_label", "reference_window", "scans_h", "expected",
                  "expected_as_used", "literature_verdict", "literature_detail", "citations", "simulation_verdict",
                  "shown_verdict", "verdict_reason", "effect", "ci_low", "ci_high", "n_subjects", "unit",
                  "expected_effect_linear", "stability_method", "stability_agree", "fragile", "origin",
                  "origin_detail", "counts_as_result", "depends_on_expected", "depends_on_observed",
                  "depends_on_effect_shift", "note")


def _num(x: float) -> str:
    return "" if x != x else f"{x:.6g}"  # NaN -> empty


def claims_rows(a: Assessment) -> list[dict]:
    """One row per claim for ``claims.csv`` (every field computed by :mod:`sim.claims` or copied from the
    registry)."""
    registry, primary, variants = a.registry, a.primary, a.variants
    rows = []
    for c in registry.claims:
        r = primary[c.id]
        obs = shift = ""
        if variants and c.testable:
            obs = ";".join(observed_dependence(c.id, variants)) or "none"
            shift = ";".join(shifted_by(c.id, variants)) or "none"
        st, org = a.stability.get(c.id), a.origin.get(c.id)
        ex = a.expected.get(c.id) if a.expected else None
        rows.append({
            "id": c.id, "source": c.source, "seed_file": ";".join(s.file for s in c.seeds),
            "seed_quote": " | ".join(s.quote for s in c.seeds), "claim": c.claim, "testable": c.testable,
            "not_testable_reason": c.reason or "",
            "readout": readout_text(c) if c.testable else "", "contrast": contrast_text(c) if c.testable else "",
            "population": c.population, "window": c.window or "",
            "window_label": registry.windows[c.window].label if c.window else "",
            "reference_window": c.reference_window or "", "scans_h": ";".join(f"{t:g}" for t in r.scans_h),
            "expected": c.expected or "", "expected_as_used": r.expected, "literature_verdict": c.literature.verdict,
            "literature_detail": c.literature.detail, "citations": "; ".join(c.literature.citations),
            "simulation_verdict": r.verdict, "shown_verdict": a.shown_verdict(c.id), "verdict_reason": r.reason,
            "effect": _num(r.effect), "ci_low": _num(r.low), "ci_high": _num(r.high), "n_subjects": r.n or "",
            "unit": r.unit, "expected_effect_linear": _num(ex.effect) if ex is not None else "",
            "stability_method": st.method if st else "", "stability_agree": _num(st.agree) if st else "",
            "fragile": bool(st.fragile) if st and st.method else "", "origin": org.kind if org else "",
            "origin_detail": org.detail if org else "", "counts_as_result": a.is_result(c.id) if c.testable else "",
            "depends_on_expected": ";".join(c.depends_on), "depends_on_observed": obs,
            "depends_on_effect_shift": shift, "note": c.note})
    return rows


def _write_csv(path: Path, columns, rows) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.DictWriter(f, fieldnames=list(columns))
        w.writeheader()
        for row in rows:
            w.writerow({k: (_num(v) if isinstance(v, float) else v) for k, v in row.items()})
    return path


#: the sections of :func:`write_claims_outputs`, in order; its ``progress`` is called once after each
REPORT_STEPS = ("assessing the claims", "claims CSVs", "claims figures", "report.md, report.html")


def write_claims_outputs(ds, cfg, stage_dir, ablation=None, expected_ds=None, progress=None,
                         before_report=None) -> list[Path]:
    """Assess the registry on a timeline run (:func:`sim.claims.assess.assess`) and write into ``stage_dir``:

    ``claims.csv`` (one row per claim), ``claims_by_window.csv`` (every testable claim in every time window),
    ``claims_ablation.csv`` (with ``ablation``, a :class:`sim.claims.ablation.ClaimsRun`), figures
    ``figures/claims_*.png``, ``report.md`` and ``report.html``. ``expected_ds``: the same design on the linear
    engine (the "expected (no noise)" column). The run's own figures, if already in ``stage_dir/figures``, are
    embedded in the report. Raises :class:`sim.errors.ConfigError` if the registry names an unknown metric,
    region, network or condition. ``progress(section)``: called after each of :data:`REPORT_STEPS`.
    ``before_report()``: called just before report.md and report.html are written (the run draws its own
    figures there, :meth:`sim.run.Run.steps`, so the report embeds them); it may return the figures' data URIs
    by resolved path (:func:`sim.report.render.render_html`).
    """
    stage = Path(stage_dir)
    done = progress or (lambda section: None)
    a = assess(ds, cfg, ablation.registry if ablation is not None else None,
               ablation.variants if ablation is not None else None, expected_ds)
    done(REPORT_STEPS[0])
    registry, primary, by_window, variants = a.registry, a.primary, a.by_window, a.variants
    written = [_write_csv(stage / "claims.csv", CLAIMS_COLUMNS, claims_rows(a))]
    win_rows = [{"id": cid, "window": w, "window_label": registry.windows[w].label,
                 "scans_h": ";".join(f"{t:g}" for t in r.scans_h), "effect": r.effect, "ci_low": r.low,
                 "ci_high": r.high, "n_subjects": r.n or "", "unit": r.unit, "expected_as_used": r.expected,
                 "verdict": r.verdict, "reason": r.reason} for (cid, w), r in by_window.items()]
    written.append(_write_csv(stage / "claims_by_window.csv", list(win_rows[0]) if win_rows else ["id"], win_rows))
    if variants:
        rows = matrix_rows(registry, variants)
        written.append(_write_csv(stage / "claims_ablation.csv", list(rows[0]), rows))
    done(REPORT_STEPS[1])
    figs = {"effects": save_fig(fig_effects(registry, primary), stage / "figures" / "claims_effects.png"),
            "windows": save_fig(fig_windows(registry, by_window), stage / "figures" / "claims_by_window.png")}
    if variants:
        figs["matrix"] = save_fig(fig_matrix(registry, variants), stage / "figures" / "claims_ablation_matrix.png")
    done(REPORT_STEPS[2])
    uris = before_report() if before_report is not None else None
    ctx = ReportContext(a, run_info(ds, cfg), stage / "figures", figs)
    written += list(write_report(stage, ctx, uris)) + list(figs.values())
    done(REPORT_STEPS[3])
    return written
