"""The README's "Calling a stage from Python" example runs as written against a run store."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import REPO
from em2exm import ome
from fakerun import copy_run, fake_run_fixture  # noqa: F401 - the session fixture


def _example() -> str:
    text = (REPO / "README.md").read_text()
    section = text[text.index("### Calling a stage from Python"):]
    return re.search(r"```python\n(.*?)```", section, re.DOTALL).group(1)


def test_the_readme_example_decodes_and_scores_a_run(fake_run, tmp_path: Path, capsys) -> None:
    store = copy_run(fake_run, tmp_path / "run")
    code = _example()
    assert 'run = "runs/demo"' in code
    exec(compile(code.replace('run = "runs/demo"', f"run = {str(store)!r}"), "README.md", "exec"), {})  # noqa: S102
    tuned = ome.open_labels(str(store / "experiments" / "oracle" / "predictions.zarr"), "tuned")
    assert tuned.array[:].max() > 0
    split, merge, ap = map(float, capsys.readouterr().out.split()[-3:])
    assert split >= 0 and merge >= 0 and 0 <= ap <= 1
