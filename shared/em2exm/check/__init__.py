"""``em2exm check``: a preflight of a pipeline config that lists every problem at once, in seconds."""

from em2exm.check.checks import preflight, run_checks
from em2exm.check.report import Finding, Report

__all__ = ["Finding", "Report", "preflight", "run_checks"]
