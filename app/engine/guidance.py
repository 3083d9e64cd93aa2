"""Guidance for a rep: the step's checklist, the next gate, and what the method recommends."""

from dataclasses import dataclass

from app.engine.definition import ProcessDefinition
from app.engine.gates import Facts, Finding, GateResult, evaluate_gate, find_unmet, is_met

PACE_KINDS = ("activity_recent", "objections_fresh")  # the prompts to check in, silent while a deal is snoozed


@dataclass(frozen=True)
class ChecklistEntry:
    """A checklist item; done is None where the records cannot tell."""

    text: str
    done: bool | None


@dataclass(frozen=True)
class Guidance:
    """Where an opportunity stands and what to do next."""

    step: str
    phase: str
    status: str
    checklist: tuple[ChecklistEntry, ...]
    next_step: str | None
    next_gate: GateResult | None
    recommendations: tuple[Finding, ...]


def guide(definition: ProcessDefinition, *, step: str, status: str, facts: Facts) -> Guidance:
    """The guidance for an opportunity standing at a step with a status."""
    current = definition.step(step)
    checklist = tuple(ChecklistEntry(item.text, None if item.check is None else is_met(item.check, facts))
                      for item in current.checklist)
    following = definition.next_step(step) if status == "open" else None
    next_gate = evaluate_gate(definition.step(following), facts) if following else None
    recommendations: list[Finding] = []
    if status in ("open", "won"):  # a closed deal needs no advice until it is reopened
        snoozed = facts.document["opportunity"]["snooze"] is not None
        advice = [r for r in definition.recommendations if not (snoozed and r.kind in PACE_KINDS)]
        recommendations, _, _ = find_unmet(advice, facts, step)
    return Guidance(step=step, phase=current.phase, status=status, checklist=checklist,
                    next_step=following, next_gate=next_gate, recommendations=tuple(recommendations))
