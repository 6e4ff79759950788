"""What a preflight check found: one line per finding (ok, warning or problem), every problem at once."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Literal

from em2exm.errors import UserError

Level = Literal["ok", "warn", "FAIL"]
LOG_LEVELS = {"ok": logging.INFO, "warn": logging.WARNING, "FAIL": logging.ERROR}


@dataclass(frozen=True)
class Finding:
    """One line of the report: its level, what was checked (config, input, store, gpu, memory, space) and what
    was found (for a problem: the problem and its fix)."""

    level: Level
    topic: str
    text: str

    def line(self) -> str:
        return f"{self.level:<4}  {self.topic:<7} {self.text}"


@dataclass
class Report:
    """Findings in the order they were made."""

    findings: list[Finding] = field(default_factory=list)

    def ok(self, topic: str, text: str) -> None:
        self.findings.append(Finding("ok", topic, text))

    def warn(self, topic: str, text: str) -> None:
        self.findings.append(Finding("warn", topic, text))

    def fail(self, topic: str, text: str) -> None:
        self.findings.append(Finding("FAIL", topic, text))

    def error(self, topic: str, error: UserError) -> None:
        """A problem reported as a UserError (its problem and fix)."""
        self.fail(topic, str(error))

    @property
    def problems(self) -> list[Finding]:
        return [f for f in self.findings if f.level == "FAIL"]

    def text(self) -> str:
        return "\n".join(f.line() for f in self.findings)

    def log(self, logger: logging.Logger) -> None:
        """Every finding as a log record (ok: info, warn: warning, FAIL: error)."""
        for finding in self.findings:
            logger.log(LOG_LEVELS[finding.level], "check: %s", finding.line())

    def raise_problems(self, command: str, fix: str) -> None:
        """Exit 2 (one line) when there are problems; they were listed by :meth:`text` or :meth:`log`."""
        if self.problems:
            count = len(self.problems)
            raise UserError(f"{command}: {count} problem{'s' if count > 1 else ''} found (listed above: FAIL)", fix)
