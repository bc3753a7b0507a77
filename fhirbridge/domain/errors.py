"""The one error the care-coordination domain raises: a record that breaks its rules."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Problem", "ValidationError"]


@dataclass(frozen=True)
class Problem:
    """One broken rule: where (a dotted path such as ``plan.goals[0].description``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ValidationError(ValueError):
    """A record that a coordinator could not accept; ``problems`` lists every broken rule."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = list(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems) or "invalid record")
