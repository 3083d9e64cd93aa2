"""Gate evaluation: which requirements of a step are unmet, and how to meet them."""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.checks import CHECKS
from app.engine.definition import Requirement, Step


@dataclass(frozen=True)
class Finding:
    """An unmet requirement: what is missing, how serious, and where to record it."""

    code: str
    message: str
    severity: str
    step: str
    fix: str
    details: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class GateResult:
    """The evaluation of one step's gate."""

    step: str
    passed: bool
    unmet: tuple[Finding, ...]
    met: tuple[str, ...]

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for the API and the history."""
        return {"step": self.step, "passed": self.passed,
                "unmet": [asdict(f) for f in self.unmet], "met": list(self.met)}


def is_met(requirement: Requirement, document: Mapping[str, Any]) -> bool:
    """Whether the document meets one requirement."""
    return CHECKS[requirement.kind](document, requirement.params) is None


def find_unmet(requirements: Iterable[Requirement], document: Mapping[str, Any],
               step: str) -> tuple[list[Finding], list[str]]:
    """The findings for the unmet requirements, and the codes of the met ones."""
    opportunity_id = document["opportunity"]["id"]
    unmet: list[Finding] = []
    met: list[str] = []
    for req in requirements:
        details = CHECKS[req.kind](document, req.params)
        if details is None:
            met.append(req.code)
        else:
            unmet.append(Finding(code=req.code, message=req.message, severity=req.severity,
                                 step=step, fix=req.fix.format(opportunity_id=opportunity_id),
                                 details=details))
    return unmet, met


def evaluate_gate(step: Step, document: Mapping[str, Any]) -> GateResult:
    """Evaluate every requirement of the gate into a step; warnings never block."""
    unmet, met = find_unmet(step.gate, document, step.name)
    passed = not any(f.severity == "block" for f in unmet)
    return GateResult(step=step.name, passed=passed, unmet=tuple(unmet), met=tuple(met))
