"""Every stage's ``--help`` lists every option of its options model with its default and its meaning."""

from __future__ import annotations

import re

import pytest
from em2exm import cli
from em2exm.specs import spec
from pydantic import BaseModel


def _options_model(stage: str) -> type[BaseModel]:
    """The model a stage parses its options into: its spec's."""
    return spec(stage).params


def _keys(model: type[BaseModel], prefix: str = "") -> list[str]:
    """Every option key, nested models dotted (``augment.flip``), as the help walks them."""
    keys = []
    for name, field in model.model_fields.items():
        nested = field.annotation if isinstance(field.annotation, type) else None
        if nested is not None and issubclass(nested, BaseModel):
            keys += _keys(nested, f"{prefix}{name}.")
        else:
            keys.append(prefix + name)
    return keys


@pytest.mark.parametrize("stage", cli.stage_names())
def test_help_lists_every_option_with_default_and_meaning(stage, capsys):
    with pytest.raises(SystemExit) as exit_info:
        cli.main([stage, "--help"])
    assert exit_info.value.code in (0, None)
    text = capsys.readouterr().out
    keys = _keys(_options_model(stage))
    assert keys
    missing = [key for key in keys
               if not re.search(rf"^  {re.escape(key)} \(default .*?\): \S", text, re.MULTILINE)]
    assert not missing, (f"em2exm {stage} --help lacks the default or the meaning of {missing}: "
                         "give each field a description=")
