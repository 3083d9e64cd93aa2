"""The engine against a model: random sequences of record edits and moves through the API, with the
method's invariants checked after every step."""

import os
from typing import Any

from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule, run_state_machine_as_test

from tests.conftest import WATER_DEAL, Workplace
from tests.method import PREPARE, STEPS

RUNS = int(os.environ.get("DEALGATE_MODEL_RUNS", "12"))  # sequences per backend; `make fuzz` raises it
DIAGNOSIS_STARTS = STEPS.index("presentation")
DECIDERS = ("decision_maker", "economic_buyer")
WRITES = ("POST", "PUT", "PATCH", "DELETE")


def test_random_sequences_keep_the_method_whole(app: FastAPI, workplace: Workplace) -> None:
    seen = dict.fromkeys(["crossed", "crossed undiagnosed", "refused undiagnosed", "overridden", "reopened"], 0)
    manager = TestClient(app, headers=workplace.as_user("rep.kim"))  # may reopen and override
    rep = TestClient(app, headers=workplace.as_user("rep.alex"))  # may neither

    class Deal(RuleBasedStateMachine):
        """One deal, driven by a manager and a rep; the model keeps what the API said."""

        @initialize()
        def open_deal(self) -> None:
            created = rep.post("/v1/opportunities", json=WATER_DEAL)
            assert created.status_code == 201
            self.oid, self.etag = created.json()["id"], created.headers["ETag"]
            self.history: list[dict[str, Any]] = self.fetch_history()
            self.ids: dict[str, str] = {}

        def fetch_history(self) -> list[dict[str, Any]]:
            return list(manager.get(f"/v1/opportunities/{self.oid}/history").json()["items"])

        def deal(self) -> dict[str, Any]:
            return dict(manager.get(f"/v1/opportunities/{self.oid}").json())

        def write(self, client: TestClient, method: str, path: str, body: Any = None, changes: bool = True) -> int:
            """A write to the deal; the ETag must change exactly when it succeeds and changes something."""
            answer = client.request(method, f"/v1/opportunities/{self.oid}{path}", json=body)
            assert answer.status_code < 500, answer.text
            etag = manager.get(f"/v1/opportunities/{self.oid}").headers["ETag"]
            if answer.status_code < 300 and changes:
                assert etag != self.etag, (method, path)
            else:
                assert etag == self.etag, (method, path, answer.status_code)
            if answer.status_code >= 300:
                assert answer.headers["content-type"] == "application/problem+json"
            self.etag = etag
            return answer.status_code

        def diagnosis_missing(self) -> set[str]:
            """The model's own reading of the records: which of a problem with a cost and a decider is missing."""
            problems = manager.get(f"/v1/opportunities/{self.oid}/problems").json()["items"]
            people = manager.get(f"/v1/opportunities/{self.oid}/stakeholders").json()["items"]
            missing = set()
            if not any(p["cost"] and p["cost"]["amount"] > 0 for p in problems):
                missing.add("diagnose.problem_cost_quantified")
            if not any(s["role"] in DECIDERS for s in people):
                missing.add("diagnose.decision_maker_identified")
            return missing

        @precondition(lambda self: self.deal()["status"] == "open")  # a closed deal's records are read-only
        @rule(step=st.sampled_from(STEPS[1:]))
        def record_what_a_step_needs(self, step: str) -> None:
            before = self.etag
            for name in STEPS[1 : STEPS.index(step) + 1]:
                if name == "questioning" and "buyer" not in self.ids or name in ("presentation", "negotiation",
                                                                                  "follow_up") and "problem" not in self.ids:
                    return  # the record it names was deleted; record the earlier steps again first
                PREPARE[name](manager, self.oid, self.ids)
            self.etag = manager.get(f"/v1/opportunities/{self.oid}").headers["ETag"]
            assert self.etag != before or step == "closing"

        @rule(kind=st.sampled_from(["stakeholders", "problems"]))
        def delete_every(self, kind: str) -> None:
            """Every record of the kind that no other record names (those are refused, as on a closed deal)."""
            closed = self.deal()["status"] != "open"
            for item in manager.get(f"/v1/opportunities/{self.oid}/{kind}").json()["items"]:
                status = self.write(manager, "DELETE", f"/{kind}/{item['id']}")
                assert status == 409 if closed else status in (204, 409), status
                if status == 204:
                    self.ids = {k: v for k, v in self.ids.items() if v != item["id"]}

        @rule(urgency=st.sampled_from(["yes", "no", "unknown"]), resources=st.sampled_from(["yes", "no", "unknown"]))
        def qualify(self, urgency: str, resources: str) -> None:
            body = {"urgency": urgency, "resources": resources,
                    **({"compelling_event": "Regulator deadline"} if urgency == "yes" else {})}
            stored = manager.get(f"/v1/opportunities/{self.oid}/qualification")
            fields = {"urgency_evidence": None, "compelling_event_date": None, "budget_available": None,
                      "resources_evidence": None, "compelling_event": None, **body}  # PUT replaces them all
            same = stored.status_code == 200 and all(stored.json()[k] == v for k, v in fields.items())
            written = self.write(manager, "PUT", "/qualification", body, changes=not same)
            assert written in ((200, 201) if self.deal()["status"] == "open" else (409,)), written

        @rule(to=st.sampled_from([*STEPS[1:], "next"]), override=st.booleans(), by_rep=st.booleans())
        def move_forward(self, to: str, override: bool, by_rep: bool) -> None:
            missing = self.diagnosis_missing()
            body = {"to": to, **({"override": "The customer's board meets tomorrow."} if override else {})}
            status = self.write(rep if by_rep else manager, "POST", "/transitions", body)
            assert status in (200, 403, 409, 422)
            if status == 200:
                moved = self.fetch_history()[-1]
                seen["overridden"] += bool(moved["overridden"])
                if moved["kind"] == "forward" and STEPS.index(moved["to_step"]) >= DIAGNOSIS_STARTS > \
                        STEPS.index(moved["from_step"]):
                    seen["crossed"] += 1
                    if missing:  # only a manager's override gets a deal there, passing over what is missing
                        seen["crossed undiagnosed"] += 1
                        assert override and not by_rep and missing <= set(moved["overridden"] or ()), moved
            elif status == 409 and missing and STEPS.index(self.deal()["step"]) < DIAGNOSIS_STARTS and \
                    to != "next" and STEPS.index(to) >= DIAGNOSIS_STARTS and not override:
                seen["refused undiagnosed"] += 1
            if status == 403:
                assert override and by_rep

        @rule(data=st.data())
        def move_back(self, data: st.DataObject) -> None:
            deal = self.deal()
            earlier = STEPS[: STEPS.index(deal["step"])]
            if deal["status"] in ("open", "won") and earlier:
                to = data.draw(st.sampled_from(earlier))
                assert self.write(manager, "POST", "/transitions", {"to": to, "reason": "New stakeholder"}) == 200

        @rule(code=st.sampled_from([None, "no_urgency", "not_a_fit"]))
        def close_without_winning(self, code: str | None) -> None:
            body = {"to": "lost", "reason": "Went with a rival"} if code is None else {"to": "disqualified",
                                                                                      "reason_code": code}
            open_now = self.deal()["status"] == "open"
            assert self.write(rep, "POST", "/transitions", body) == (200 if open_now else 409)

        @precondition(lambda self: self.deal()["status"] in ("lost", "disqualified"))
        @rule(by_rep=st.booleans())
        def reopen(self, by_rep: bool) -> None:
            body = {"to": self.deal()["step"], "reason": "Budget found"}
            assert self.write(rep if by_rep else manager, "POST", "/transitions", body) == (403 if by_rep else 200)
            seen["reopened"] += not by_rep

        @invariant()
        def history_is_append_only_and_replays_to_the_deal(self) -> None:
            history = self.fetch_history()
            assert history[: len(self.history)] == self.history
            self.history = history
            deal = self.deal()
            assert [h["seq"] for h in history] == sorted({h["seq"] for h in history})
            for before, after in zip(history, history[1:]):
                assert (after["from_step"], after["from_status"]) == (before["to_step"], before["to_status"])
            assert (history[-1]["to_step"], history[-1]["to_status"]) == (deal["step"], deal["status"])

        @invariant()
        def every_move_past_the_diagnosis_was_gated_or_overridden(self) -> None:
            for entry in self.history:
                if entry["kind"] == "forward" and STEPS.index(entry["to_step"]) >= DIAGNOSIS_STARTS > \
                        STEPS.index(entry["from_step"]):
                    [gate] = [g for g in entry["gates"] if g["step"] == "presentation"]
                    missing = {u["code"] for u in gate["unmet"] if u["severity"] == "block"}
                    assert gate["passed"] or (entry["override_justification"] and missing <= set(entry["overridden"]))

    run_state_machine_as_test(Deal, settings=settings(max_examples=RUNS, stateful_step_count=25, deadline=None,
                                                      derandomize=True, database=None,
                                                      suppress_health_check=list(HealthCheck)))
    print(seen)
    assert all(seen.values()), seen
