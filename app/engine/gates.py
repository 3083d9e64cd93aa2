"""Gate evaluation: which requirements of a step are unmet, and how to meet them."""

import threading
from collections.abc import Callable, Hashable, Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from app.engine.checks import CHECKS
from app.engine.definition import Requirement, Step
from app.engine.rules import OverBudget, Rule, RuleEnvironment

Fingerprint = Callable[[str], Hashable | None]
BUDGET_EXCEEDED = "rule.budget_exceeded"


class Facts:
    """What gates judge: the document, and its binding for CEL rules.

    `fingerprint` names what each part of the document is (None: unknown). When every part but
    `now` has one, rules that do not read `now` run on a binding kept from earlier evaluations of
    the same data, which has converted what they read already; other rules, and documents with a
    part that has no fingerprint, run on this evaluation's own binding.
    """

    __slots__ = ("document", "spent", "_rules", "_fingerprint", "_binding", "_kept")

    def __init__(self, document: Mapping[str, Any], rules: RuleEnvironment | None = None,
                 fingerprint: Fingerprint | None = None) -> None:
        self.document = document
        self.spent = 0.0  # seconds the rules of the gate being judged have taken
        self._rules = rules
        self._fingerprint = fingerprint
        self._binding: Any = None
        self._kept: tuple[Any, threading.Lock] | bool | None = None

    def _data(self, names: Iterable[str]) -> dict[str, Any]:
        return {name: self.document[name] for name in names}

    def evaluate(self, rule: Rule) -> bool | str | OverBudget:
        """A rule's answer on these facts (a string says why it has none), within the gate's time budget."""
        rules = self._rules
        assert rules is not None, "a definition with rules carries its rule environment"
        if self._fingerprint is not None and "now" not in rule.variables:
            if self._kept is None:
                names = [name for name in rules.variables if name != "now"]
                parts = tuple(self._fingerprint(name) for name in names)
                self._kept = None not in parts and rules.kept(parts, lambda: self._data(names))
            if self._kept:
                binding, lock = self._kept
                with lock:
                    result, elapsed = rules.run(rule, binding, self.spent)
                self.spent += elapsed
                return result
        if self._binding is None:
            self._binding = rules.bind(self._data(rules.variables))
        result, elapsed = rules.run(rule, self._binding, self.spent)
        self.spent += elapsed
        return result


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


def applies(requirement: Requirement, facts: Facts) -> bool | str | OverBudget:
    """Whether the requirement's condition holds (True without one); a string if it could not be evaluated."""
    return True if requirement.when is None else facts.evaluate(requirement.when)


def shortfall(requirement: Requirement, facts: Facts) -> dict[str, Any] | None:
    """None when the facts meet the requirement, else details of what is missing."""
    if requirement.rule is None:
        return CHECKS[requirement.kind].run(facts.document, requirement.params)
    result = facts.evaluate(requirement.rule)
    if result is True:
        return None
    return _unanswered("rule", requirement.rule, result)


def _unanswered(part: str, rule: Rule, result: bool | str | OverBudget) -> dict[str, Any]:
    """Details of a rule (or condition) that is false, failed, or was stopped by the gate's time budget."""
    details: dict[str, Any] = {part: rule.source}
    if isinstance(result, OverBudget):
        return {**details, "budget_exceeded": True, "spent_ms": round(result.seconds * 1000, 1)}
    return details if result is False else {**details, "error": result}


def is_met(requirement: Requirement, facts: Facts) -> bool | None:
    """Whether the facts meet one requirement; None when its rule was not judged within the time budget."""
    details = shortfall(requirement, facts)
    return True if details is None else None if details.get("budget_exceeded") else False


def find_unmet(requirements: Iterable[Requirement], facts: Facts,
               step: str) -> tuple[list[Finding], list[str], list[str]]:
    """The findings for the unmet requirements, the codes of the met ones, and of those that do not apply."""
    opportunity = facts.document["opportunity"]
    facts.spent = 0.0  # each gate has its own time budget
    unmet: list[Finding] = []
    met: list[str] = []
    skipped: list[str] = []
    for req in requirements:
        condition = applies(req, facts)
        if condition is False:
            skipped.append(req.code)
            continue
        # A condition that cannot be evaluated does not excuse the requirement: it is unmet.
        details = shortfall(req, facts) if condition is True else _unanswered("condition", req.when, condition)
        if details is None:
            met.append(req.code)
        elif details.pop("budget_exceeded", False):
            unmet.append(Finding(code=BUDGET_EXCEEDED, message=f"{req.code} was not judged: the gate's rules ran "
                                 "past their time budget. Ask sales ops to make its rule cheaper.",
                                 severity=req.severity, step=step, fix=req.fix_for(opportunity),
                                 details={"requirement": req.code, **details}, overridable=req.overridable))
        else:
            unmet.append(Finding(code=req.code, message=req.message, severity=req.severity, step=step,
                                 fix=req.fix_for(opportunity), details=details,
                                 overridable=req.overridable))
    return unmet, met, skipped


def evaluate_gate(step: Step, facts: Facts) -> GateResult:
    """Evaluate every requirement of the gate into a step; warnings never block."""
    unmet, met, skipped = find_unmet(step.gate, facts, step.name)
    passed = not any(f.severity == "block" for f in unmet)
    return GateResult(step=step.name, passed=passed, unmet=tuple(unmet), met=tuple(met), skipped=tuple(skipped))
