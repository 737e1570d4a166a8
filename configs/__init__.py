"""The Hydra configuration tree, shipped as the package ``sim.conf`` (see pyproject.toml); no code."""
