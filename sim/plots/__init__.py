"""Figures of an experiment run (``xarray.Dataset`` in, matplotlib ``Figure`` out).

See :mod:`sim.plots.figures` for the figures and :func:`write_figures`; ``tests/synthetic.py`` builds a synthetic
dataset with the experiment schema (a test fixture, not part of the package).
"""

from sim.plots._common import CI_LEVEL, MeanCI, mean_ci, metric_label
from sim.plots.effects import effect_series, fc_difference, fig_effects, fig_fc_differences
from sim.plots.figures import (
    FC_TIMES,
    fig_dose_response,
    fig_fc_matrices,
    fig_metric_timecourses,
    fig_network_change,
    fig_slow_states,
    metric_names,
    network_changes_of,
    write_figures,
)

__all__ = ["CI_LEVEL", "FC_TIMES", "MeanCI", "effect_series", "fc_difference", "fig_dose_response", "fig_effects",
           "fig_fc_differences",
           "fig_fc_matrices", "fig_metric_timecourses", "fig_network_change", "fig_slow_states", "mean_ci",
           "metric_label", "metric_names", "network_changes_of", "write_figures"]
