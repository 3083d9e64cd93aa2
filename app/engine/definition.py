"""Process definitions as data: ordered steps, each in a phase, each with a gate."""

from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from app.engine.checks import CHECKS

Severity = Literal["block", "warn"]
OUTCOMES = ("lost", "disqualified")
DISQUALIFY_CODES = ("no_urgency", "no_resources", "no_decision_maker_access", "not_a_fit", "other")


@dataclass(frozen=True)
class Requirement:
    """One named condition of a gate, evaluated by a registered check kind."""

    code: str
    kind: str
    message: str
    fix: str
    severity: Severity = "block"
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ChecklistItem:
    """One piece of advice for a step; `check` tells whether the records show it done."""

    text: str
    check: Requirement | None = None


@dataclass(frozen=True)
class Step:
    """A step of the sale, the phase it belongs to, the gate into it, and its checklist."""

    name: str
    phase: str
    gate: tuple[Requirement, ...] = ()
    checklist: tuple[ChecklistItem, ...] = ()


@dataclass(frozen=True)
class ProcessDefinition:
    """A versioned process: phases, ordered steps and their gates."""

    key: str
    version: int
    title: str
    phases: tuple[str, ...]
    steps: tuple[Step, ...]
    recommendations: tuple[Requirement, ...] = ()
    settings: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def _position(self) -> dict[str, int]:
        return {step.name: i for i, step in enumerate(self.steps)}

    @property
    def step_names(self) -> tuple[str, ...]:
        """The step names in order."""
        return tuple(step.name for step in self.steps)

    @property
    def first_step(self) -> Step:
        """Where every opportunity starts."""
        return self.steps[0]

    @property
    def won_step(self) -> Step:
        """The last step: reaching it means the customer accepted."""
        return self.steps[-1]

    def has_step(self, name: str) -> bool:
        """Whether the process has a step of that name."""
        return name in self._position

    def step(self, name: str) -> Step:
        """The step of that name."""
        return self.steps[self._position[name]]

    def position(self, name: str) -> int:
        """The step's index in the order of the sale."""
        return self._position[name]

    def next_step(self, name: str) -> str | None:
        """The step after this one, or None at the end."""
        i = self._position[name] + 1
        return self.steps[i].name if i < len(self.steps) else None

    def crossed(self, source: str, dest: str) -> tuple[Step, ...]:
        """The steps a forward move enters, in order: after source, up to and including dest."""
        return self.steps[self._position[source] + 1 : self._position[dest] + 1]


def _requirement(data: Mapping[str, Any], where: str) -> Requirement:
    kind = data["kind"]
    if kind not in CHECKS:
        raise ValueError(f"{where}: requirement {data.get('code')!r} has unknown kind {kind!r}")
    severity = data.get("severity", "block")
    if severity not in ("block", "warn"):
        raise ValueError(f"{where}: severity must be block or warn, not {severity!r}")
    return Requirement(code=data["code"], kind=kind, message=data["message"], fix=data["fix"],
                       severity=severity, params=dict(data.get("params") or {}))


def _checklist_item(data: Mapping[str, Any], where: str) -> ChecklistItem:
    if "kind" not in data:
        return ChecklistItem(text=data["text"])
    check = _requirement({"code": data.get("code", ""), "message": data["text"], "fix": data.get("fix", ""),
                          "kind": data["kind"], "params": data.get("params")}, where)
    return ChecklistItem(text=data["text"], check=check)


def _unique_codes(requirements: tuple[Requirement, ...], where: str) -> None:
    codes = [r.code for r in requirements]
    if len(set(codes)) != len(codes):
        raise ValueError(f"{where}: requirement codes must be unique")


def definition_from_dict(data: Mapping[str, Any]) -> ProcessDefinition:
    """Build and check a definition from its plain-data form (as stored or written in YAML)."""
    phases = tuple(data["phases"])
    steps = []
    for raw in data["steps"]:
        if raw["phase"] not in phases:
            raise ValueError(f"step {raw['name']}: unknown phase {raw['phase']!r}")
        if raw["name"] in OUTCOMES or raw["name"] == "next":
            raise ValueError(f"step name {raw['name']!r} is reserved")
        where = f"step {raw['name']}"
        gate = tuple(_requirement(r, where) for r in raw.get("gate") or ())
        _unique_codes(gate, f"the gate into {raw['name']}")
        checklist = tuple(_checklist_item(c, where) for c in raw.get("checklist") or ())
        steps.append(Step(name=raw["name"], phase=raw["phase"], gate=gate, checklist=checklist))
    names = [s.name for s in steps]
    if len(set(names)) != len(names) or len(names) < 2:
        raise ValueError("a process needs at least two steps with distinct names")
    recommendations = tuple(_requirement(r, "recommendations") for r in data.get("recommendations") or ())
    _unique_codes(recommendations, "recommendations")
    return ProcessDefinition(key=data["key"], version=int(data["version"]), title=data["title"],
                             phases=phases, steps=tuple(steps), recommendations=recommendations,
                             settings=dict(data.get("settings") or {}))
