"""The demo pipeline (configs/demo.yaml) as module-level Hera objects, for ``hera generate yaml workflows/demo.py``.

``workflow`` is the pipeline Workflow; each stage's WorkflowTemplate is bound as ``em2exm_<stage>``.
"""

from __future__ import annotations

from pathlib import Path

from workflows.render import build
from workflows.settings import load

CONFIG = Path(__file__).resolve().parents[1] / "configs" / "demo.yaml"

_manifests = build(*load(str(CONFIG))[:2])
workflow = _manifests.workflow
# every stage template is named (workflows.argo.template_name); a loop variable would be one more module-level template
globals().update({template.name.replace("-", "_"): template for template in _manifests.templates if template.name})
