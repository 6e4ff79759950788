"""The one error type that means "the user's input or config is wrong" (exit code 2)."""


def one_line(text: object, limit: int = 300) -> str:
    """``text`` with its whitespace (newlines included) collapsed, cut to ``limit`` characters."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


class UserError(Exception):
    """Bad input, config or environment: the message names the problem and the fix, on one line."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = " ".join(problem.split())
        self.fix = " ".join(fix.split())
        super().__init__(f"{self.problem}" + (f" -- fix: {self.fix}" if self.fix else ""))


class ReportedError(UserError):
    """Bad input whose ``error:`` line was printed already (by a step's own process): exit 2 with a plain note."""
