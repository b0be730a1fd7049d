"""Errors that reach the user as one clear line each.

The contract (``docs`` and ``../shared/reference/design.md``): bad input exits with code 2 and prints one
line per problem, ``PATH: key.path: what is wrong (allowed: ..., got: ...)``, or ``PATH:LINE: ...`` for a
syntax error. No traceback.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["InputError", "Problem"]


@dataclass(frozen=True)
class Problem:
    """One thing wrong with one input.

    Parameters
    ----------
    path : str
        The file (or ``"argument"`` for a command-line option) the problem is in.
    key : str
        Dotted key path inside the file, e.g. ``"probes[2].hole"``; empty for file-level problems.
    what : str
        What is wrong, in plain words.
    allowed : str, optional
        What would be accepted.
    got : str, optional
        What was given (already shortened for display).
    line : int, optional
        1-based line number, for syntax errors.
    """

    path: str
    key: str
    what: str
    allowed: str | None = None
    got: str | None = None
    line: int | None = None

    def __str__(self) -> str:
        where = f"{self.path}:{self.line}" if self.line is not None else self.path
        head = f"{where}: {self.key}: {self.what}" if self.key else f"{where}: {self.what}"
        extra = []
        if self.allowed is not None:
            extra.append(f"allowed: {self.allowed}")
        if self.got is not None:
            extra.append(f"got: {self.got}")
        return f"{head} ({', '.join(extra)})" if extra else head


class InputError(Exception):
    """Bad input from a user: a scene file, a mesh file or a command-line argument.

    Carries one or more :class:`Problem`; ``str()`` gives one contract line per problem.
    """

    def __init__(self, problems: Problem | list[Problem]):
        self.problems = [problems] if isinstance(problems, Problem) else list(problems)
        super().__init__("\n".join(str(p) for p in self.problems))

    @classmethod
    def one(cls, path: str, key: str, what: str, allowed: str | None = None, got: object = None,
            line: int | None = None) -> InputError:
        """Build an error with a single problem (``got`` is shown with ``repr`` unless it is a str)."""
        got_s = None if got is None else (got if isinstance(got, str) else repr(got))
        if got_s is not None and len(got_s) > 60:
            got_s = got_s[:57] + "..."
        return cls(Problem(path, key, what, allowed, got_s, line))
