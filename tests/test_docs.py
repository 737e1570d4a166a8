"""The README's parameter tables are generated from the models' PARAMS (python -m sim.models.tables)."""

from pathlib import Path

from sim.models.tables import update_readme

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_parameter_tables_are_current():
    assert not update_readme(str(README), check=True), "run: .venv/bin/python -m sim.models.tables"


def test_readme_opens_with_the_two_commands():
    head = "\n".join(README.read_text().splitlines()[:10])
    assert "make run" in head and "make test" in head
