"""The engine on its own: definitions as data, one shared machine, gates and moves."""

from collections.abc import Mapping
from typing import Any

import pytest

from app.engine.checks import CHECKS, Params, check
from app.engine.definition import DefinitionInvalid, ProcessDefinition, compile_definition
from app.engine.gates import Facts
from app.engine.machine import ProcessMachine, machine_for
from app.engine.spec import ProcessSpec
from app.errors import GateBlocked, InvalidInput, MoveNotAllowed, ReasonRequired
from app.processes.context import rule_environment
from app.processes.service import compile_spec, default_process


class FlagParams(Params):
    """The flag to look for."""

    flag: str


if "flag_set" not in CHECKS:
    @check("flag_set", FlagParams)
    def flag_set(document: Mapping[str, Any], params: Mapping[str, Any]) -> dict[str, Any] | None:
        """Met when the opportunity carries the named flag."""
        return None if document["opportunity"].get(params["flag"]) else {"flag": params["flag"]}


def _requirement(code: str, flag: str, severity: str = "block") -> dict[str, Any]:
    return {"code": code, "kind": "flag_set", "params": {"flag": flag}, "severity": severity,
            "message": f"set {flag}", "fix": "/v1/opportunities/{opportunity_id}/flags"}


def definition(data: dict[str, Any], key: str = "toy") -> ProcessDefinition:
    """A definition compiled by the engine from its written form."""
    return compile_definition(ProcessSpec.model_validate(data), key=key, version=1, rules=rule_environment())


TOY = definition({
    "title": "Toy", "phases": ["one", "two"],
    "steps": [{"name": "a", "phase": "one"}, {"name": "b", "phase": "one"}, {"name": "c", "phase": "two"},
              {"name": "d", "phase": "two"}],
    "gates": {"b": [_requirement("toy.b_ready", "b"), _requirement("toy.b_nice", "nice", "warn")],
              "c": [_requirement("toy.c_ready", "c")]},
})


def doc(**flags: bool) -> Facts:
    """The facts of an opportunity carrying flags."""
    return Facts({"opportunity": {"id": "opp-1", **flags}})


def test_one_machine_per_definition_registers_no_model() -> None:
    machine = machine_for(TOY)
    assert machine_for(TOY) is machine
    for _ in range(200):
        machine.move(step="a", status="open", to="b", reason=None, facts=doc(b=True))
    assert machine._machine.models == []


def test_forward_move_crossing_steps_stops_at_the_first_failing_gate_and_names_it() -> None:
    with pytest.raises(GateBlocked) as refused:
        machine_for(TOY).move(step="a", status="open", to="d", reason=None, facts=doc())
    assert refused.value.extensions["step"] == "b"
    assert [(u["code"], u["step"]) for u in refused.value.extensions["unmet"]] == [
        ("toy.b_ready", "b"), ("toy.b_nice", "b"), ("toy.c_ready", "c")]
    assert "nor 1 more on the way to d" in refused.value.detail

    with pytest.raises(GateBlocked) as refused:
        machine_for(TOY).move(step="a", status="open", to="d", reason=None, facts=doc(b=True))
    assert refused.value.extensions["step"] == "c"
    assert refused.value.extensions["unmet"][0]["fix"] == "/v1/opportunities/opp-1/flags"


def test_warnings_never_block_and_are_reported() -> None:
    result = machine_for(TOY).move(step="a", status="open", to="c", reason=None,
                                   facts=doc(b=True, c=True))
    assert (result.kind, result.to_step, result.status) == ("forward", "c", "open")
    b_gate, c_gate = result.gates
    assert b_gate.passed and [f.code for f in b_gate.unmet] == ["toy.b_nice"]
    assert c_gate.passed and c_gate.met == ("toy.c_ready",)


def test_reaching_the_last_step_wins_and_back_moves_need_a_reason() -> None:
    machine = machine_for(TOY)
    won = machine.move(step="c", status="open", to="d", reason=None, facts=doc())
    assert won.status == "won"
    with pytest.raises(ReasonRequired):
        machine.move(step="d", status="won", to="a", reason="  ", facts=doc())
    back = machine.move(step="d", status="won", to="a", reason="customer reorganised", facts=doc())
    assert (back.kind, back.to_step, back.status, back.gates) == ("back", "a", "open", ())


def test_lost_and_disqualified_keep_the_step_and_reopen_only_there() -> None:
    machine = machine_for(TOY)
    with pytest.raises(ReasonRequired):
        machine.move(step="b", status="open", to="lost", reason=None, facts=doc())
    lost = machine.move(step="b", status="open", to="lost", reason="went with a rival", facts=doc())
    assert (lost.kind, lost.to_step, lost.status) == ("lost", "b", "lost")
    with pytest.raises(MoveNotAllowed):
        machine.move(step="b", status="lost", to="c", reason="back on", facts=doc(b=True, c=True))
    with pytest.raises(MoveNotAllowed):
        machine.move(step="b", status="lost", to="disqualified", reason="x", facts=doc())
    reopened = machine.move(step="b", status="lost", to="b", reason="budget found", facts=doc())
    assert (reopened.kind, reopened.status) == ("reopen", "open")


def test_impossible_moves_name_what_is_possible() -> None:
    machine = machine_for(TOY)
    with pytest.raises(MoveNotAllowed) as same:
        machine.move(step="b", status="open", to="b", reason=None, facts=doc())
    assert set(same.value.extensions["allowed"]) == {"a", "c", "d", "lost", "disqualified"}
    with pytest.raises(MoveNotAllowed):
        machine.move(step="d", status="won", to="lost", reason="x", facts=doc())
    with pytest.raises(MoveNotAllowed):
        machine.move(step="d", status="won", to="next", reason=None, facts=doc())
    with pytest.raises(InvalidInput):
        machine.move(step="a", status="open", to="nowhere", reason=None, facts=doc())
    assert machine.move(step="a", status="open", to="next", reason=None,
                        facts=doc(b=True)).to_step == "b"


def test_definitions_are_checked_when_loaded_with_every_error_at_once() -> None:
    base = {"title": "t", "phases": ["p"]}
    with pytest.raises(DefinitionInvalid) as invalid:
        definition({**base, "steps": [{"name": "a", "phase": "p"}, {"name": "lost", "phase": "q"}],
                    "gates": {"lost": [{"code": "x", "kind": "nope", "message": "m"},
                                       _requirement("x", "y")]}})
    messages = {(e["pointer"], e["message"].split(" ")[0]) for e in invalid.value.errors}
    assert messages == {("/steps/1/name", "step"), ("/steps/1/phase", "unknown"), ("/gates/lost/0/kind", "unknown"),
                        ("/gates/lost/1/code", "duplicate")}


def test_the_default_process_has_four_phases_and_the_steps_of_the_sale() -> None:
    key, spec = default_process()
    default = compile_spec(spec, key=key, version=1)
    assert default.phases == ("discover", "diagnose", "design", "deploy")
    assert [(s.name, s.phase) for s in default.steps] == [
        ("planning", "discover"), ("opening", "discover"), ("questioning", "diagnose"),
        ("solution_design", "design"), ("presentation", "deploy"), ("negotiation", "deploy"),
        ("closing", "deploy"), ("follow_up", "deploy")]
    assert isinstance(machine_for(default), ProcessMachine)


def test_a_requirement_whose_setting_changes_is_not_the_same_requirement() -> None:
    key, spec = default_process()
    longer = {**spec, "settings": {**spec["settings"], "payback_horizon_months": 48}}
    before = {r.code: r for r in compile_spec(spec, key=key, version=1).step("presentation").gate}
    after = {r.code: r for r in compile_spec(longer, key=key, version=2).step("presentation").gate}
    assert not before["design.price_paid_back"].same_as(after["design.price_paid_back"])
    assert before["design.proposition_tied"].same_as(after["design.proposition_tied"])
