"""Errors that the CLI turns into a clear message and exit code 2 (bad input), never a traceback."""


class InputError(Exception):
    """Bad user input: a manifest row, a file, a config value. The message says what to fix."""

    exit_code = 2

    def __init__(self, message: str, problems: list[str] | None = None):
        super().__init__(message)
        self.problems = list(problems or [])

    def __str__(self) -> str:
        head = super().__str__()
        if not self.problems:
            return head
        return head + "\n" + "\n".join(f"  - {p}" for p in self.problems)
