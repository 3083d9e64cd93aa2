"""The engine on its own: definitions as data, one shared machine, gates and moves."""

from collections.abc import Mapping
from typing import Any

import pytest

from app.engine.checks import CHECKS, check
from app.engine.definition import definition_from_dict
from app.engine.machine import ProcessMachine, machine_for
from app.errors import GateBlocked, InvalidInput, MoveNotAllowed, ReasonRequired
from app.processes.service import latest_definition

if "flag_set" not in CHECKS:
    @check("flag_set")
    def flag_set(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Met when the opportunity carries the named flag."""
        return None if document["opportunity"].get(params["flag"]) else {"flag": params["flag"]}


def _requirement(code: str, flag: str, severity: str = "block") -> dict[str, Any]:
    return {"code": code, "kind": "flag_set", "params": {"flag": flag}, "severity": severity,
            "message": f"set {flag}", "fix": "/v1/opportunities/{opportunity_id}/flags"}


TOY = definition_from_dict({
    "key": "toy", "version": 1, "title": "Toy", "phases": ["one", "two"],
    "steps": [
        {"name": "a", "phase": "one"},
        {"name": "b", "phase": "one", "gate": [_requirement("toy.b_ready", "b"),
                                               _requirement("toy.b_nice", "nice", "warn")]},
        {"name": "c", "phase": "two", "gate": [_requirement("toy.c_ready", "c")]},
        {"name": "d", "phase": "two"},
    ],
})


def doc(**flags: bool) -> dict[str, Any]:
    """A document with an opportunity carrying flags."""
    return {"opportunity": {"id": "opp-1", **flags}}


def test_one_machine_per_definition_registers_no_model() -> None:
    machine = machine_for(TOY)
    assert machine_for(TOY) is machine
    for _ in range(200):
        machine.move(step="a", status="open", to="b", reason=None, document=doc(b=True))
    assert machine._machine.models == []


def test_forward_move_crossing_steps_stops_at_the_first_failing_gate_and_names_it() -> None:
    with pytest.raises(GateBlocked) as refused:
        machine_for(TOY).move(step="a", status="open", to="d", reason=None, document=doc())
    assert refused.value.extensions["step"] == "b"
    assert [(u["code"], u["step"]) for u in refused.value.extensions["unmet"]] == [
        ("toy.b_ready", "b"), ("toy.b_nice", "b"), ("toy.c_ready", "c")]
    assert "nor 1 more on the way to d" in refused.value.detail

    with pytest.raises(GateBlocked) as refused:
        machine_for(TOY).move(step="a", status="open", to="d", reason=None, document=doc(b=True))
    assert refused.value.extensions["step"] == "c"
    assert refused.value.extensions["unmet"][0]["fix"] == "/v1/opportunities/opp-1/flags"


def test_warnings_never_block_and_are_reported() -> None:
    result = machine_for(TOY).move(step="a", status="open", to="c", reason=None,
                                   document=doc(b=True, c=True))
    assert (result.kind, result.to_step, result.status) == ("forward", "c", "open")
    b_gate, c_gate = result.gates
    assert b_gate.passed and [f.code for f in b_gate.unmet] == ["toy.b_nice"]
    assert c_gate.passed and c_gate.met == ("toy.c_ready",)


def test_reaching_the_last_step_wins_and_back_moves_need_a_reason() -> None:
    machine = machine_for(TOY)
    won = machine.move(step="c", status="open", to="d", reason=None, document=doc())
    assert won.status == "won"
    with pytest.raises(ReasonRequired):
        machine.move(step="d", status="won", to="a", reason="  ", document=doc())
    back = machine.move(step="d", status="won", to="a", reason="customer reorganised", document=doc())
    assert (back.kind, back.to_step, back.status, back.gates) == ("back", "a", "open", ())


def test_lost_and_disqualified_keep_the_step_and_reopen_only_there() -> None:
    machine = machine_for(TOY)
    with pytest.raises(ReasonRequired):
        machine.move(step="b", status="open", to="lost", reason=None, document=doc())
    lost = machine.move(step="b", status="open", to="lost", reason="went with a rival", document=doc())
    assert (lost.kind, lost.to_step, lost.status) == ("lost", "b", "lost")
    with pytest.raises(MoveNotAllowed):
        machine.move(step="b", status="lost", to="c", reason="back on", document=doc(b=True, c=True))
    with pytest.raises(MoveNotAllowed):
        machine.move(step="b", status="lost", to="disqualified", reason="x", document=doc())
    reopened = machine.move(step="b", status="lost", to="b", reason="budget found", document=doc())
    assert (reopened.kind, reopened.status) == ("reopen", "open")


def test_impossible_moves_name_what_is_possible() -> None:
    machine = machine_for(TOY)
    with pytest.raises(MoveNotAllowed) as same:
        machine.move(step="b", status="open", to="b", reason=None, document=doc())
    assert set(same.value.extensions["allowed"]) == {"a", "c", "d", "lost", "disqualified"}
    with pytest.raises(MoveNotAllowed):
        machine.move(step="d", status="won", to="lost", reason="x", document=doc())
    with pytest.raises(MoveNotAllowed):
        machine.move(step="d", status="won", to="next", reason=None, document=doc())
    with pytest.raises(InvalidInput):
        machine.move(step="a", status="open", to="nowhere", reason=None, document=doc())
    assert machine.move(step="a", status="open", to="next", reason=None,
                        document=doc(b=True)).to_step == "b"


def test_definitions_are_checked_when_loaded() -> None:
    base = {"key": "k", "version": 1, "title": "t", "phases": ["p"]}
    with pytest.raises(ValueError, match="unknown kind"):
        definition_from_dict({**base, "steps": [{"name": "a", "phase": "p"}, {"name": "b", "phase": "p", "gate": [
            {"code": "x", "kind": "nope", "message": "m", "fix": "f"}]}]})
    with pytest.raises(ValueError, match="unknown phase"):
        definition_from_dict({**base, "steps": [{"name": "a", "phase": "p"}, {"name": "b", "phase": "q"}]})
    with pytest.raises(ValueError, match="reserved"):
        definition_from_dict({**base, "steps": [{"name": "a", "phase": "p"}, {"name": "lost", "phase": "p"}]})
    with pytest.raises(ValueError, match="the gate into b: requirement codes must be unique"):
        definition_from_dict({**base, "steps": [{"name": "a", "phase": "p"}, {"name": "b", "phase": "p", "gate": [
            _requirement("dup", "x"), _requirement("dup", "y")]}]})


def test_the_default_process_has_four_phases_and_the_steps_of_the_sale() -> None:
    definition = latest_definition()
    assert definition.phases == ("discover", "diagnose", "design", "deploy")
    assert [(s.name, s.phase) for s in definition.steps] == [
        ("planning", "discover"), ("opening", "discover"), ("questioning", "diagnose"),
        ("solution_design", "design"), ("presentation", "deploy"), ("negotiation", "deploy"),
        ("closing", "deploy"), ("follow_up", "deploy")]
    assert isinstance(machine_for(definition), ProcessMachine)
