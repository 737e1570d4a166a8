"""Teaching sandbox: a local web page to play with the model without code or YAML (docs/sandbox.md).

``dmnsim-sandbox`` (or ``make sandbox``) starts :mod:`sim.sandbox.server`, a small standard-library HTTP
server on 127.0.0.1 that serves one static page (``static/``: plain HTML, CSS and JS, no assets from the
internet) and a JSON API. The page's controls are turned into a small live timeline run
(:func:`sim.sandbox.server.simulate`); the lessons are data in :mod:`sim.sandbox.lessons`.
"""

from sim.sandbox.lessons import LESSONS

__all__ = ["LESSONS"]
