"""The shared state machine of a process definition and the moves it allows."""

from dataclasses import asdict, dataclass
from typing import Any

from transitions import EventData, Machine, MachineError

from app.engine.definition import DISQUALIFY_CODES, OUTCOMES, ProcessDefinition
from app.engine.gates import Facts, GateResult, evaluate_gate
from app.errors import DomainError, Forbidden, GateBlocked, InvalidInput, MoveNotAllowed, ReasonRequired
from app.lru import Lru
from app.settings import get_settings


class _Move:
    """The light model a trigger runs on: where the opportunity stands and what it carries."""

    __slots__ = ("state", "resume_step", "facts", "reason", "reason_code", "override", "role", "gates",
                 "overridden", "refusal")

    def __init__(self, state: str, resume_step: str, facts: Facts, reason: str | None,
                 reason_code: str | None, override: str | None, role: str | None) -> None:
        self.state = state
        self.resume_step = resume_step
        self.facts = facts
        self.reason = reason
        self.reason_code = reason_code
        self.override = override
        self.role = role
        self.gates: list[GateResult] = []
        self.overridden: tuple[str, ...] = ()
        self.refusal: DomainError | None = None


@dataclass(frozen=True)
class MoveResult:
    """What a move did: its kind, the step and status after it, and every gate it evaluated."""

    kind: str
    from_step: str
    to_step: str
    status: str
    gates: tuple[GateResult, ...]
    overridden: tuple[str, ...] = ()  # blocking requirements an override passed over


class ProcessMachine:
    """One `transitions` machine per process definition, shared by every opportunity."""

    def __init__(self, definition: ProcessDefinition) -> None:
        self.definition = definition
        steps = list(definition.step_names)
        open_steps = steps[:-1]  # the last step is the won outcome: nothing to lose any more
        transitions: list[dict[str, Any]] = []
        for i, dest in enumerate(steps):
            trigger = f"to_{dest}"
            if i > 0:
                transitions.append({"trigger": trigger, "source": steps[:i], "dest": dest,
                                    "conditions": [self._gates_pass]})
            if i < len(steps) - 1:
                transitions.append({"trigger": trigger, "source": steps[i + 1 :], "dest": dest,
                                    "conditions": [self._has_reason]})
            transitions.append({"trigger": trigger, "source": list(OUTCOMES), "dest": dest,
                                "conditions": [self._reopens_here, self._has_reason]})
        transitions.append({"trigger": "to_lost", "source": open_steps, "dest": "lost",
                            "conditions": [self._has_reason]})
        transitions.append({"trigger": "to_disqualified", "source": open_steps, "dest": "disqualified",
                            "conditions": [self._has_reason_code]})
        self._machine = Machine(model=None, states=steps + list(OUTCOMES), transitions=transitions,
                                initial=None, auto_transitions=False, send_event=True)

    def targets_from(self, state: str) -> list[str]:
        """Every state a move can name from this one."""
        return [t.removeprefix("to_") for t in self._machine.get_triggers(state)]

    def move(self, *, step: str, status: str, to: str, reason: str | None, facts: Facts,
             reason_code: str | None = None, override: str | None = None, role: str | None = None) -> MoveResult:
        """Apply the process to a requested move (`next` is the following step); raise its refusal.

        With an `override` (a written justification), a forward move passes blocked gates if the
        caller's `role` is one the process names and every blocking requirement is overridable.
        """
        definition = self.definition
        if to == "next":
            following = definition.next_step(step) if status == "open" else None
            if following is None:
                raise MoveNotAllowed(f"There is no next step from {step} ({status}).",
                                     current=step, allowed=self.targets_from(step))
            to = following
        if to not in definition.step_names and to not in OUTCOMES:
            raise InvalidInput(f"Unknown step {to!r}.",
                               allowed=list(definition.step_names) + list(OUTCOMES))
        state = step if status in ("open", "won") else status
        if override is not None and not override.strip():
            raise InvalidInput("An override needs a written justification.",
                               errors=[{"pointer": "/override", "in": "body", "message": "empty justification"}])
        override = override.strip() if override else None
        # A move to where the deal already stands is refused as such (409), justified or not.
        if override and state != to and (state not in definition.step_names or self._kind(state, to) != "forward"):
            raise InvalidInput("An override passes a blocked gate; it applies only to a forward move.",
                               errors=[{"pointer": "/override", "in": "body",
                                        "message": "only a forward move can be overridden"}])
        model = _Move(state, step, facts, reason.strip() if reason else None, reason_code, override, role)
        try:
            moved = self._machine.events[f"to_{to}"].trigger(model)
        except MachineError:
            raise MoveNotAllowed(self._why_not(state, to), current=state,
                                 allowed=self.targets_from(state)) from None
        if not moved:
            assert model.refusal is not None
            raise model.refusal
        return MoveResult(kind=self._kind(state, to), from_step=step,
                          to_step=to if to not in OUTCOMES else step,
                          status=self._status_after(to), gates=tuple(model.gates), overridden=model.overridden)

    def furthest(self, *, step: str, to: str, facts: Facts) -> tuple[str, GateResult | None]:
        """How far forward from `step` towards `to` the gates allow: the furthest step whose gate (and every
        gate before it) holds, and the first gate that does not (None when `to` is reached)."""
        reached = step
        for crossed in self.definition.crossed(step, to):
            if crossed.gate:
                gate = evaluate_gate(crossed, facts)
                if not gate.passed:
                    return reached, gate
            reached = crossed.name
        return reached, None

    def _kind(self, state: str, to: str) -> str:
        if to in OUTCOMES:
            return to
        if state in OUTCOMES:
            return "reopen"
        return "forward" if self.definition.position(to) > self.definition.position(state) else "back"

    def _status_after(self, to: str) -> str:
        if to in OUTCOMES:
            return to
        return "won" if to == self.definition.won_step.name else "open"

    def _why_not(self, state: str, to: str) -> str:
        if state == to:
            return f"The opportunity already stands at {to}."
        if state == self.definition.won_step.name and to in OUTCOMES:
            return f"The opportunity is won; move it back before marking it {to}."
        return f"No move leads from {state} to {to}."

    def _gates_pass(self, event: EventData) -> bool:
        model: _Move = event.model
        for step in self.definition.crossed(model.state, event.transition.dest):
            if step.gate:
                model.gates.append(evaluate_gate(step, model.facts))
        failed = [g for g in model.gates if not g.passed]
        if not failed:
            return True
        if model.override:
            return self._override(model)
        # The first failing gate stops the move; the answer lists everything missing on the
        # way to the target, each requirement once, under the first gate that asks for it.
        unmet: dict[str, dict[str, Any]] = {}
        for gate in model.gates:
            for finding in gate.as_dict()["unmet"]:
                unmet.setdefault(finding["code"], finding)
        blocking = [code for code, f in unmet.items() if f["severity"] == "block"]
        model.refusal = GateBlocked(
            f"The gate into {failed[0].step} is not met"
            + (f" (nor {len(failed) - 1} more on the way to {event.transition.dest})" if len(failed) > 1 else "")
            + ": " + "; ".join(blocking) + ".",
            step=failed[0].step, passed=False, unmet=list(unmet.values()),
            gates=[g.as_dict() for g in model.gates])
        return False

    def _override(self, model: _Move) -> bool:
        if model.role not in self.definition.override_roles:
            model.refusal = Forbidden(f"A {model.role} may not override a gate of this process; it lets "
                                      + (", ".join(self.definition.override_roles) or "no role") + " do so.",
                                      allowed=list(self.definition.override_roles))
            return False
        blocking = {f.code: f for g in model.gates for f in g.unmet if f.severity == "block"}
        fixed = sorted(code for code, f in blocking.items() if not f.overridable)
        if fixed:
            model.refusal = GateBlocked(
                "These requirements cannot be overridden; record what they ask for: " + ", ".join(fixed) + ".",
                step=next(g.step for g in model.gates if not g.passed), passed=False,
                unmet=[asdict(f) for f in blocking.values()], gates=[g.as_dict() for g in model.gates])
            return False
        model.overridden = tuple(blocking)
        return True

    def _has_reason(self, event: EventData) -> bool:
        model: _Move = event.model
        if model.reason:
            return True
        kind = self._kind(model.state, event.transition.dest)
        model.refusal = ReasonRequired(f"A {kind} move must say why: send a non-empty 'reason'.")
        return False

    def _has_reason_code(self, event: EventData) -> bool:
        model: _Move = event.model
        if model.reason_code is None:
            model.refusal = ReasonRequired("Disqualifying needs a 'reason_code': " + ", ".join(DISQUALIFY_CODES) + ".",
                                           allowed=list(DISQUALIFY_CODES))
            return False
        if model.reason_code not in DISQUALIFY_CODES:
            model.refusal = InvalidInput(f"Unknown reason_code {model.reason_code!r}.",
                                         allowed=list(DISQUALIFY_CODES))
            return False
        if model.reason_code == "other" and not model.reason:
            model.refusal = ReasonRequired("reason_code 'other' needs a 'reason' that says what it is.")
            return False
        return True

    def _reopens_here(self, event: EventData) -> bool:
        model: _Move = event.model
        if event.transition.dest == model.resume_step:
            return True
        model.refusal = MoveNotAllowed(
            f"A {model.state} opportunity reopens at the step where it stood, {model.resume_step}.",
            current=model.state, allowed=[model.resume_step])
        return False


# Keyed by the definition object, which the entry keeps alive (so its id is never reused):
# two workspaces may each have a version 2 of "complex-sale" with different gates.
MACHINES: Lru[tuple[ProcessDefinition, "ProcessMachine"]] = Lru(get_settings().definition_cache_size)


def machine_for(definition: ProcessDefinition) -> ProcessMachine:
    """The machine of a published definition, built once and shared by all its opportunities."""
    return MACHINES.get_or_make(id(definition), lambda: (definition, ProcessMachine(definition)))[1]
