"""Process definitions as data: ordered steps, each in a phase, each with a gate."""

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from pydantic import ValidationError

from app.engine.checks import CHECKS
from app.engine.rules import Rule, RuleEnvironment, RuleInvalid
from app.engine.spec import ChecklistItemSpec, ProcessSpec, RequirementSpec
from app.errors import json_pointer

OUTCOMES = ("lost", "disqualified")
DISQUALIFY_CODES = ("no_urgency", "no_resources", "no_decision_maker_access", "not_a_fit", "other")


@dataclass(frozen=True)
class Requirement:
    """One named condition of a gate: a built-in kind with parameters, or a CEL rule; it applies
    only when its condition (if any) holds."""

    code: str
    kind: str  # a built-in kind, or "rule"
    message: str
    fix: str
    severity: str = "block"  # block or warn in a gate; warn or info in advice
    params: Mapping[str, Any] = field(default_factory=dict)
    rule: Rule | None = field(default=None, compare=False)
    when: Rule | None = field(default=None, compare=False)
    overridable: bool = True

    @cached_property
    def signature(self) -> str:
        """Everything that makes the requirement what it is, parameters resolved from settings."""
        return json.dumps([self.kind, self.params, self.rule and self.rule.source, self.when and self.when.source,
                           self.severity, self.overridable, self.message, self.fix], sort_keys=True)

    def same_as(self, other: "Requirement") -> bool:
        """Whether two requirements ask for the same thing (so their results agree)."""
        return self.signature == other.signature

    def fix_for(self, opportunity: Mapping[str, Any]) -> str:
        """Where to record what is missing, for one opportunity (as the API shows it)."""
        fix = self.fix.replace("{opportunity_id}", opportunity["id"])
        return fix.replace("{account_id}", opportunity["account"]["id"]) if "{account_id}" in fix else fix


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
    win_probability: float | None = None


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
    override_roles: tuple[str, ...] = ()
    rules: RuleEnvironment | None = field(default=None, compare=False)

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


class DefinitionInvalid(Exception):
    """Everything wrong with a process version at once, each with a JSON pointer into it."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(f"{len(errors)} problem(s) in the process definition")
        self.errors = errors


class _Compiler:
    """Turns a written process into a definition, gathering every error instead of stopping."""

    def __init__(self, spec: ProcessSpec, rules: RuleEnvironment, accepted: bool) -> None:
        self.spec = spec
        self.rules = rules
        self.accepted = accepted
        self.compiled = 0
        self.errors: list[dict[str, Any]] = []
        self.by_code: dict[str, tuple[Requirement, str]] = {}

    def error(self, pointer: str, message: str, **extra: Any) -> None:
        self.errors.append({"pointer": pointer, "in": "body", "message": message, **extra})

    def rule(self, source: str | None, pointer: str, what: str) -> Rule | None:
        if source is None:
            return None
        self.compiled += 1
        if self.compiled > self.rules.limits.per_version:
            if self.compiled == self.rules.limits.per_version + 1:
                self.error(pointer, f"a process version holds at most {self.rules.limits.per_version} CEL rules "
                                    "and conditions; this is one more")
            return None
        try:
            return self.rules.compile(source, priced=not self.accepted)
        except RuleInvalid as invalid:
            for problem in invalid.problems:
                self.error(pointer, f"{what}: {problem.message}", line=problem.line, column=problem.column)
            return None

    def params(self, kind: str | None, raw: Mapping[str, Any], pointer: str) -> dict[str, Any]:
        if kind not in CHECKS:
            self.error(f"{pointer}/kind", f"unknown requirement kind {kind!r}", allowed=sorted(CHECKS))
            return {}
        registered = CHECKS[kind]
        settings = self.spec.settings.model_dump()
        defaults = {param: settings[name] for param, name in registered.settings.items()}
        try:
            return registered.params.model_validate({**defaults, **raw}).model_dump(mode="json")
        except ValidationError as invalid:
            for e in invalid.errors():
                where = "".join(f"/{part}" for part in e["loc"])
                self.error(f"{pointer}/params{where}", f"{kind}: {e['msg']}")
            return {}

    def requirement(self, spec: RequirementSpec, pointer: str) -> Requirement:
        if (spec.kind is None) == (spec.rule is None):
            self.error(pointer, "a requirement has either a built-in 'kind' or a CEL 'rule', not both or neither")
        if spec.kind is None and spec.params:
            self.error(f"{pointer}/params", "params belong to a built-in kind; a CEL rule takes none")
        requirement = Requirement(
            code=spec.code, kind=spec.kind or "rule", message=spec.message, fix=spec.fix,
            severity=spec.severity, overridable=spec.overridable,
            params=self.params(spec.kind, spec.params, pointer) if spec.kind is not None else {},
            rule=self.rule(spec.rule, f"{pointer}/rule", "rule"),
            when=self.rule(spec.when, f"{pointer}/when", "condition"))
        bare = spec.fix.replace("{opportunity_id}", "").replace("{account_id}", "")
        if "{" in bare or "}" in bare:
            self.error(f"{pointer}/fix", "a fix may hold {opportunity_id} and {account_id}, and no other braces")
        seen = self.by_code.get(spec.code)
        if seen is None:
            self.by_code[spec.code] = (requirement, pointer)
        elif not seen[0].same_as(requirement) and seen[1].rsplit("/", 1)[0] != pointer.rsplit("/", 1)[0]:
            self.error(f"{pointer}/code", f"duplicate code {spec.code!r}: {seen[1]} uses it for another "
                                          "requirement (a code may repeat only for the same requirement)")
        # (two uses in one gate are reported by the gate)
        return requirement

    def gate(self, step: str, specs: list[RequirementSpec]) -> tuple[Requirement, ...]:
        pointer = json_pointer("gates", step)
        codes = [r.code for r in specs]
        for i, code in enumerate(codes):
            if code in codes[:i]:
                self.error(f"{pointer}/{i}/code", f"duplicate code {code!r} in the gate into {step}")
        return tuple(self.requirement(r, f"{pointer}/{i}") for i, r in enumerate(specs))

    def checklist_item(self, item: ChecklistItemSpec, pointer: str) -> ChecklistItem:
        if item.kind is not None and item.rule is not None:
            self.error(pointer, "a checklist item has a built-in 'kind' or a CEL 'rule', not both")
        if item.kind is None and item.params:
            self.error(f"{pointer}/params", "params belong to a built-in kind; a CEL rule takes none")
        if item.kind is None and item.rule is None:
            return ChecklistItem(text=item.text)
        return ChecklistItem(text=item.text, check=Requirement(
            code="", kind=item.kind or "rule", message=item.text, fix="",
            params=self.params(item.kind, item.params, pointer) if item.kind is not None else {},
            rule=self.rule(item.rule, f"{pointer}/rule", "rule")))

    def steps(self) -> tuple[Step, ...]:
        spec = self.spec
        for i, phase in enumerate(spec.phases):
            if phase in spec.phases[:i]:
                self.error(f"/phases/{i}", f"duplicate phase {phase!r}")
        names = [s.name for s in spec.steps]
        steps = []
        last_phase = 0
        for i, raw in enumerate(spec.steps):
            pointer = f"/steps/{i}"
            if raw.name in OUTCOMES or raw.name == "next":
                self.error(f"{pointer}/name", f"step name {raw.name!r} is reserved")
            if raw.name in names[:i]:
                self.error(f"{pointer}/name", f"duplicate step {raw.name!r}")
            if raw.phase not in spec.phases:
                self.error(f"{pointer}/phase", f"unknown phase {raw.phase!r}", allowed=list(spec.phases))
            elif spec.phases.index(raw.phase) < last_phase:
                self.error(f"{pointer}/phase", f"step {raw.name!r} is in phase {raw.phase!r}, which comes "
                                               f"before the phase of the step ahead of it")
            else:
                last_phase = spec.phases.index(raw.phase)
            checklist = tuple(self.checklist_item(c, f"{pointer}/checklist/{j}") for j, c in enumerate(raw.checklist))
            steps.append(Step(name=raw.name, phase=raw.phase, gate=self.gate(raw.name, spec.gates.get(raw.name, [])),
                              checklist=checklist, win_probability=raw.win_probability))
        for name in spec.gates:
            if name not in names:
                self.error(json_pointer("gates", name), f"unknown step {name!r}: a gate belongs to a step of "
                                                        "this process", allowed=names)
        if names and spec.gates.get(names[0]):
            self.error(json_pointer("gates", names[0]),
                       f"{names[0]!r} is where every deal starts; the first step has no gate")
        self.reachable(steps)
        return tuple(steps)

    def reachable(self, steps: list[Step]) -> None:
        """A blocking rule that can be neither met nor overridden makes every later step unreachable."""
        if self.accepted:  # asked when it was published; a rule that could not be priced is not here to try
            return
        for i, step in enumerate(steps):
            for j, requirement in enumerate(step.gate):
                fixed = not requirement.overridable or not self.spec.overrides.roles
                if requirement.severity == "block" and fixed and requirement.when is None \
                        and requirement.rule is not None and self.rules.never_true(requirement.rule):
                    later = [s.name for s in steps[i:]]
                    self.error(json_pointer("gates", step.name, j, "rule"),
                               f"{requirement.code} is never met and cannot be overridden, so no deal can "
                               f"reach {', '.join(later)}")
                    return

    def compile(self, key: str, version: int) -> ProcessDefinition:
        steps = self.steps()
        recommendations = []
        for i, spec in enumerate(self.spec.recommendations):
            if spec.code in [r.code for r in self.spec.recommendations[:i]]:
                self.error(f"/recommendations/{i}/code", f"duplicate recommendation code {spec.code!r}")
            recommendations.append(self.requirement(spec, f"/recommendations/{i}"))
        if self.errors:
            raise DefinitionInvalid(self.errors)
        settings = self.spec.settings.model_dump(mode="json")
        return ProcessDefinition(key=key, version=version, title=self.spec.title, phases=tuple(self.spec.phases),
                                 steps=steps, recommendations=tuple(recommendations), settings=settings,
                                 override_roles=tuple(self.spec.overrides.roles), rules=self.rules)


def compile_definition(spec: ProcessSpec, *, key: str, version: int, rules: RuleEnvironment,
                       accepted: bool = False) -> ProcessDefinition:
    """A checked, compiled definition; DefinitionInvalid lists every problem with its pointer. An accepted
    definition (a published version, checked when it was published) is not priced nor tried again."""
    return _Compiler(spec, rules, accepted).compile(key, version)
