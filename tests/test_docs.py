"""The README's parameter tables are generated from the models' PARAMS (python -m sim.params)."""

from pathlib import Path

from sim.params import update_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_parameter_tables_are_current():
    assert not update_readme(str(README), check=True), "run: .venv/bin/python -m sim.params"


def test_readme_opens_with_the_two_commands():
    head = "\n".join(README.read_text().splitlines()[:10])
    assert "make run" in head and "make test" in head
