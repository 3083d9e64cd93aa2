"""Gate evaluation: which requirements of a step are unmet, and how to meet them."""

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.checks import CHECKS
from app.engine.definition import Requirement, Step
from app.engine.rules import RuleEnvironment


class Facts:
    """What gates judge: the document, and (built on first use) its binding for CEL rules."""

    __slots__ = ("document", "_rules", "_activation")

    def __init__(self, document: Mapping[str, Any], rules: RuleEnvironment | None = None) -> None:
        self.document = document
        self._rules = rules
        self._activation: Any = None

    def activation(self) -> Any:
        """The document bound to the rule variables, once for every rule that reads it."""
        if self._activation is None:
            assert self._rules is not None, "a definition with rules carries its rule environment"
            self._activation = self._rules.activation(self.document)
        return self._activation


@dataclass(frozen=True)
class Finding:
    """An unmet requirement: what is missing, how serious, and where to record it."""

    code: str
    message: str
    severity: str
    step: str
    fix: str
    details: dict[str, Any] = field(default_factory=dict)
    overridable: bool = True


@dataclass(frozen=True)
class GateResult:
    """The evaluation of one step's gate; `skipped` lists requirements whose condition did not hold."""

    step: str
    passed: bool
    unmet: tuple[Finding, ...]
    met: tuple[str, ...]
    skipped: tuple[str, ...] = ()

    def as_dict(self) -> dict[str, Any]:
        """Plain data, for the API and the history."""
        return {"step": self.step, "passed": self.passed, "unmet": [asdict(f) for f in self.unmet],
                "met": list(self.met), "skipped": list(self.skipped)}


def applies(requirement: Requirement, facts: Facts) -> bool | str:
    """Whether the requirement's condition holds (True without one); a string if it could not be evaluated."""
    return True if requirement.when is None else requirement.when.evaluate(facts.activation())


def shortfall(requirement: Requirement, facts: Facts) -> dict[str, Any] | None:
    """None when the facts meet the requirement, else details of what is missing."""
    if requirement.rule is None:
        return CHECKS[requirement.kind].run(facts.document, requirement.params)
    result = requirement.rule.evaluate(facts.activation())
    if result is True:
        return None
    details = {"rule": requirement.rule.source}
    return details if result is False else {**details, "error": result}


def is_met(requirement: Requirement, facts: Facts) -> bool:
    """Whether the facts meet one requirement."""
    return shortfall(requirement, facts) is None


def find_unmet(requirements: Iterable[Requirement], facts: Facts,
               step: str) -> tuple[list[Finding], list[str], list[str]]:
    """The findings for the unmet requirements, the codes of the met ones, and of those that do not apply."""
    opportunity_id = facts.document["opportunity"]["id"]
    unmet: list[Finding] = []
    met: list[str] = []
    skipped: list[str] = []
    for req in requirements:
        condition = applies(req, facts)
        if condition is False:
            skipped.append(req.code)
            continue
        # A condition that cannot be evaluated does not excuse the requirement: it is unmet.
        details = shortfall(req, facts) if condition is True else {"condition": req.when.source, "error": condition}
        if details is None:
            met.append(req.code)
        else:
            unmet.append(Finding(code=req.code, message=req.message, severity=req.severity, step=step,
                                 fix=req.fix.format(opportunity_id=opportunity_id), details=details,
                                 overridable=req.overridable))
    return unmet, met, skipped


def evaluate_gate(step: Step, facts: Facts) -> GateResult:
    """Evaluate every requirement of the gate into a step; warnings never block."""
    unmet, met, skipped = find_unmet(step.gate, facts, step.name)
    passed = not any(f.severity == "block" for f in unmet)
    return GateResult(step=step.name, passed=passed, unmet=tuple(unmet), met=tuple(met), skipped=tuple(skipped))
