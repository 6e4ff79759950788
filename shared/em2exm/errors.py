"""The one error type that means "the user's input or config is wrong" (exit code 2)."""


class UserError(Exception):
    """Bad input, config or environment: the message names the problem and the fix."""

    def __init__(self, problem: str, fix: str = "") -> None:
        self.problem = problem
        self.fix = fix
        super().__init__(f"{problem}" + (f" -- fix: {fix}" if fix else ""))
