"""The engine's cost per gated move against a bare `transitions` trigger, without HTTP or database.

Usage, from the repository root: .venv/bin/python -m bench.engine [--repeat 5] [--number 20000]
"""

import argparse
import sys
import timeit
import uuid
from collections.abc import Callable
from typing import Any

from transitions import Machine

from app.engine.definition import OUTCOMES, ProcessDefinition
from app.engine.gates import Facts
from app.engine.machine import ProcessMachine, machine_for
from app.phases.catalog import RECORD_KINDS
from app.processes.service import compile_spec, default_process

OPPORTUNITY_ID = str(uuid.UUID(int=1))
STAMP = "2026-01-05T09:00:00Z"
COSTS = [None, {"amount": 0, "currency": "EUR", "period": "once"}, None,
         {"amount": 42000000, "currency": "EUR", "period": "year"}, None]
ROLES = ["user", "technical", "influencer", "coach", "economic_buyer"]


class _Model:
    """The smallest model a bare trigger can run on."""

    __slots__ = ("state",)

    def __init__(self) -> None:
        self.state = "questioning"


def parse_args() -> argparse.Namespace:
    """The command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed repeats; the best one counts")
    parser.add_argument("--number", type=int, default=20_000, help="calls per repeat")
    return parser.parse_args()


def stored(collection: str, number: int, body: dict[str, Any]) -> dict[str, Any]:
    """A record in its API shape, the shape gates read: the create body with defaults, as stored."""
    kind = RECORD_KINDS[collection]
    fields = kind.create.model_validate(body).model_dump()
    meta = {"id": str(uuid.UUID(int=number)), "opportunity_id": OPPORTUNITY_ID, "version": 1,
            "created_at": STAMP, "created_by": "bench", "updated_at": STAMP, "updated_by": "bench"}
    return kind.read.model_validate({**fields, **meta}).model_dump(mode="json")


def document() -> dict[str, Any]:
    """5 problems, 5 stakeholders, and the other records the gates into presentation read."""
    stakeholders = [stored("stakeholders", 200 + i, {"name": f"Person {i}", "role": role})
                    for i, role in enumerate(ROLES)]
    buyer = {"stakeholder_id": stakeholders[-1]["id"], "at": STAMP}
    problems = [stored("problems", 100 + i, {"description": f"Problem {i}", "cost": cost,
                                              "confirmation": buyer if cost else None})
                for i, cost in enumerate(COSTS)]
    solved = [problems[3]["id"]]
    return {
        "opportunity": {"id": OPPORTUNITY_ID}, "now": STAMP,
        "problems": problems, "stakeholders": stakeholders, "account_profile": None,
        "decision_process": stored("decision_process", 300, {"steps": ["Review", "Vote"],
                                                             "decision_date": "2027-03-01"}),
        "qualification": stored("qualification", 301, {
            "urgency": "yes", "resources": "yes",
            "budget_available": {"amount": 130000000, "currency": "EUR"}}),
        "proposition": stored("proposition", 302, {"benefit": "No outages", "problem_ids": solved}),
        "scope_items": [stored("scope_items", 303, {
            "name": "Filter monitoring", "price": {"amount": 90000000, "currency": "EUR"},
            "problem_ids": solved})],
    }


def default_definition() -> ProcessDefinition:
    """The default process as every workspace starts with it."""
    key, spec = default_process()
    return compile_spec(spec, key=key, version=1)


def check_engine_move(machine: ProcessMachine, doc: dict[str, Any]) -> None:
    """Check that the move passes every gate it crosses, so the timing is of a real forward move."""
    result = machine.move(step="questioning", status="open", to="presentation", reason=None,
                          facts=Facts(doc, machine.definition.rules))
    if result.kind != "forward" or not result.gates or not all(g.passed for g in result.gates):
        raise SystemExit(f"the engine did not move forward through the gates: {result}")


def bare_trigger(states: list[str]) -> tuple[Machine, _Model]:
    """A `transitions` machine with the same states and one trigger, questioning -> presentation."""
    machine = Machine(model=None, states=states, initial=None, auto_transitions=False,
                      send_event=True,
                      transitions=[{"trigger": "go", "source": "questioning", "dest": "presentation"}])
    return machine, _Model()


def best_microseconds(call: Callable[[], object], repeat: int, number: int) -> float:
    """The best time of one call, in µs, over `repeat` runs of `number` calls."""
    return min(timeit.repeat(call, repeat=repeat, number=number)) / number * 1e6


def main() -> int:
    """Time both, print µs per call and the ratio, and check the shared machine holds no model."""
    args = parse_args()
    definition = default_definition()
    machine = machine_for(definition)
    doc = document()
    check_engine_move(machine, doc)
    bare, model = bare_trigger(list(definition.step_names) + list(OUTCOMES))

    def move() -> None:
        machine.move(step="questioning", status="open", to="presentation", reason=None,
                     facts=Facts(doc, definition.rules))

    def fire() -> None:
        model.state = "questioning"
        bare.events["go"].trigger(model)

    fire()
    if model.state != "presentation":
        raise SystemExit(f"the bare trigger left the model at {model.state}")
    engine_us = best_microseconds(move, args.repeat, args.number)
    bare_us = best_microseconds(fire, args.repeat, args.number)
    gates = sum(len(step.gate) for step in definition.crossed("questioning", "presentation"))
    models = len(machine._machine.models)  # shared by every opportunity: a move must not register
    print(f"best of {args.repeat} repeats of {args.number} calls")
    print(f"engine move  questioning->presentation ({gates} requirements) {engine_us:8.2f} µs/call")
    print(f"bare trigger questioning->presentation (no conditions)   {bare_us:8.2f} µs/call")
    print(f"ratio engine/bare {engine_us / bare_us:.1f}")
    print(f"models registered on the shared machine after the run: {models}")
    print(f"RESULT|engine: a gated move crossing two gates ({gates} requirements) vs a bare transitions trigger|"
          f"{engine_us:.1f} vs {bare_us:.1f} µs, ratio {engine_us / bare_us:.1f}; {models} models left|"
          f"no model left|{'yes' if models == 0 else 'no'}")
    return 0 if models == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
