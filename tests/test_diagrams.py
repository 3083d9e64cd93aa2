"""The process drawn: a version's diagram, a deal's diagram with where it stands, in SVG or Mermaid."""

import os
import re
import shutil
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.conftest import WATER_DEAL, Workplace, move
from tests.method import prepare

VERSION_1 = "/v1/processes/complex-sale/versions/1"
MERMAID = {"Accept": "text/vnd.mermaid"}
SVG_NAMESPACE = "{http://www.w3.org/2000/svg}"


@dataclass
class Mermaid:
    """A Mermaid flowchart as the tests read it."""

    phases: list[tuple[str, list[str]]] = field(default_factory=list)  # subgraph title, its node labels in order
    ids: dict[str, str] = field(default_factory=dict)  # node id by label
    shapes: dict[str, str] = field(default_factory=dict)  # opening bracket by label
    edges: dict[str, tuple[str, str]] = field(default_factory=dict)  # (source label, edge label) by destination
    classes: dict[str, set[str]] = field(default_factory=dict)  # by label
    styled_links: set[int] = field(default_factory=set)

    def label_of(self, node_id: str) -> str:
        """The label of a node."""
        return next(label for label, known in self.ids.items() if known == node_id)


def read_mermaid(text: str) -> Mermaid:
    """The subgraphs, nodes, edges, classes and link styles of a flowchart."""
    lines = text.splitlines()
    assert lines[0] == "flowchart LR"
    drawing = Mermaid()
    order: list[tuple[str, str, str]] = []
    for line in lines[1:]:
        if subgraph := re.fullmatch(r'\s*subgraph \w+ \["(.*)"\]', line):
            drawing.phases.append((subgraph[1], []))
        elif node := re.fullmatch(r'\s*(\w+)(\[\[|\[|\(\[)"(.*)"(\]\]|\]|\]\))', line):
            drawing.phases[-1][1].append(node[3])
            drawing.ids[node[3]], drawing.shapes[node[3]] = node[1], node[2]
        elif edge := re.fullmatch(r'\s*(\w+) -->(?:\|"(.*)"\|)? (\w+)', line):
            order.append((edge[1], edge[2] or "", edge[3]))
        elif marked := re.fullmatch(r"\s*class (\w+) (\w+)", line):
            drawing.classes.setdefault(drawing.label_of(marked[1]), set()).add(marked[2])
        elif linked := re.fullmatch(r"\s*linkStyle (\d+) .+", line):
            drawing.styled_links.add(int(linked[1]))
        else:
            assert re.fullmatch(r"\s*(end|classDef \w+ .+)", line), line
    for source, label, dest in order:
        drawing.edges[drawing.label_of(dest)] = (drawing.label_of(source), label)
    return drawing


def mermaid_of(client: TestClient, path: str) -> Mermaid:
    """GET a diagram as Mermaid and read it."""
    response = client.get(path, headers=MERMAID)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/vnd.mermaid")
    assert response.headers["vary"] == "Accept"
    return read_mermaid(response.text)


def blocking(client: TestClient, oid: str, step: str) -> list[str]:
    """The codes blocking the gate into a step, as the gates endpoint reports them."""
    gate = client.get(f"/v1/opportunities/{oid}/gates/{step}").json()
    return [finding["code"] for finding in gate["unmet"] if finding["severity"] == "block"]


def judged(client: TestClient, oid: str, step: str) -> str:
    """What the edge into a step should say of its gate for a deal, from the gates endpoint."""
    codes = blocking(client, oid, step)
    return "<br>".join(["blocked:", *codes]) if codes else "gate holds"


def test_a_version_is_drawn_phase_by_phase_with_its_steps_in_order_and_each_gate(client: TestClient) -> None:
    spec = client.get(VERSION_1).json()["spec"]
    drawing = mermaid_of(client, f"{VERSION_1}/diagram")
    steps = [step["name"] for step in spec["steps"]]
    assert drawing.phases[:-1] == [(phase, [s["name"] for s in spec["steps"] if s["phase"] == phase])
                                   for phase in spec["phases"]]
    assert drawing.phases[-1] == ("closed: from any open step", ["lost", "disqualified"])
    assert drawing.shapes[steps[-1]] == "[[" and drawing.classes[steps[-1]] == {"won"}
    assert spec["gates"] and set(spec["gates"]) <= set(steps[1:])
    for before, step in zip(steps, steps[1:]):
        gate = spec["gates"].get(step, [])
        required = sum(r.get("severity", "block") == "block" for r in gate)
        assert drawing.edges[step][0] == before
        assert drawing.edges[step][1].startswith(f"gate: {required} required") if gate else not drawing.edges[step][1]
    assert not drawing.styled_links
    plain = client.get(f"{VERSION_1}/diagram", headers={"Accept": "text/plain"})
    assert plain.status_code == 200 and plain.headers["content-type"].startswith("text/plain")
    assert read_mermaid(plain.text) == drawing


def test_a_deal_is_drawn_where_it_stands_with_the_gates_ahead_as_the_gate_endpoint_judges_them(
        client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    steps = [s["name"] for s in client.get(VERSION_1).json()["spec"]["steps"]]
    gated = set(client.get(VERSION_1).json()["spec"]["gates"])
    drawing = mermaid_of(client, f"/v1/opportunities/{oid}/diagram")
    assert drawing.classes == {"planning": {"current"}, steps[-1]: {"won"}}
    assert judged(client, oid, "opening") == "blocked:<br>" + "<br>".join(blocking(client, oid, "opening"))
    for step in steps[1:]:
        assert drawing.edges[step][1] == (judged(client, oid, step) if step in gated else "")
    assert drawing.styled_links == {i for i, step in enumerate(steps[1:]) if step in gated}

    prepare(client, oid, "opening")
    ready = mermaid_of(client, f"/v1/opportunities/{oid}/diagram")
    assert ready.edges["opening"][1] == "gate holds" and ready.classes == drawing.classes
    assert move(client, oid, "opening").status_code == 200
    moved = mermaid_of(client, f"/v1/opportunities/{oid}/diagram")
    assert moved.classes == {"planning": {"passed"}, "opening": {"current"}, steps[-1]: {"won"}}
    assert moved.edges["opening"][1].startswith("gate: ")  # behind the deal: the gate as the process states it
    assert moved.edges["questioning"][1] == judged(client, oid, "questioning")
    assert moved.edges["questioning"][1].startswith("blocked:")
    assert moved.styled_links == drawing.styled_links - {0}


def test_a_lost_deal_is_drawn_at_its_outcome_with_no_gate_judged(client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    assert move(client, oid, "lost", reason="Budget frozen").status_code == 200
    drawing = mermaid_of(client, f"/v1/opportunities/{oid}/diagram")
    assert drawing.classes["planning"] == drawing.classes["lost"] == {"current"}
    assert not any(label.startswith(("blocked", "gate holds")) for _, label in drawing.edges.values())


def test_a_deal_is_drawn_for_whoever_may_read_it(app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    other_team = TestClient(app, headers={**workplace.as_user("rep.zoe"), **MERMAID})
    refused = other_team.get(f"/v1/opportunities/{oid}/diagram")
    assert refused.status_code == other_team.get(f"/v1/opportunities/{oid}/guidance").status_code == 403
    assert refused.headers["content-type"] == "application/problem+json"
    for reader in ("rep.kim", "ops.lee", "admin", "crm.sync"):
        seen = TestClient(app, headers=workplace.as_user(reader)).get(f"/v1/opportunities/{oid}/diagram",
                                                                      headers=MERMAID)
        assert seen.status_code == 200, (reader, seen.text)
    elsewhere = client.get("/v1/opportunities/01930000-0000-7000-8000-0000000000ff/diagram", headers=MERMAID)
    assert elsewhere.status_code == 404


def test_accept_picks_the_form_and_a_form_not_offered_is_406(client: TestClient) -> None:
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    for path in (f"{VERSION_1}/diagram", f"/v1/opportunities/{oid}/diagram"):
        refused = client.get(path, headers={"Accept": "application/pdf"})
        assert refused.status_code == 406 and refused.headers["content-type"] == "application/problem+json"
        assert refused.json()["type"].endswith("/not-acceptable")
        assert sorted(refused.json()["allowed"]) == ["image/svg+xml", "text/plain", "text/vnd.mermaid"]
        for accept, form in [("application/pdf, text/*;q=0.5", "text/vnd.mermaid"),
                             ("image/svg+xml;q=0, */*", "text/vnd.mermaid"),
                             ("text/plain, text/vnd.mermaid;q=0.9", "text/plain")]:
            chosen = client.get(path, headers={"Accept": accept})
            assert chosen.status_code == 200 and chosen.headers["content-type"].startswith(form), (accept, chosen.text)
        assert client.get(path, headers={"Accept": "text/plain;q=0"}).status_code == 406


def test_a_version_that_is_not_published_is_not_drawn(app: FastAPI, client: TestClient, workplace: Workplace) -> None:
    missing = client.get("/v1/processes/complex-sale/versions/99/diagram", headers=MERMAID)
    assert missing.status_code == 404 and missing.headers["content-type"] == "application/problem+json"
    assert client.get("/v1/processes/no-such-process/versions/1/diagram", headers=MERMAID).status_code == 404
    ops = TestClient(app, headers=workplace.as_user("ops.lee"))
    draft = ops.post("/v1/processes/complex-sale/versions", json=client.get(VERSION_1).json()["spec"])
    assert draft.status_code == 201, draft.text
    assert ops.get(f"/v1/processes/complex-sale/versions/{draft.json()['version']}/diagram",
                   headers=MERMAID).status_code == 409


def svg_text(response: Any) -> str:
    """The text of an SVG answer, after checking it is one."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "image/svg+xml"
    root = ET.fromstring(response.content)
    assert root.tag == f"{SVG_NAMESPACE}svg"
    return " ".join(root.itertext())


def test_svg_is_the_default_and_without_graphviz_the_answer_points_to_mermaid(client: TestClient) -> None:
    answers = [client.get(f"{VERSION_1}/diagram", headers={"Accept": accept}) for accept in ("*/*", "", "image/*")]
    if shutil.which("dot") is None:  # a vague Accept gets Mermaid text; only an asked-for SVG is refused
        assert [a.headers["content-type"].split(";")[0] for a in answers[:2]] == ["text/vnd.mermaid"] * 2
        for answer in answers[2:]:
            assert answer.status_code == 503 and answer.headers["content-type"] == "application/problem+json"
            assert answer.json()["type"].endswith("/unavailable")
            assert "Graphviz (`dot`) is not installed" in answer.json()["detail"]
            assert "Accept: text/vnd.mermaid" in answer.json()["detail"]
        return
    steps = [s["name"] for s in client.get(VERSION_1).json()["spec"]["steps"]]
    for answer in answers:
        text = svg_text(answer)
        assert all(step in text for step in steps) and "lost" in text and "disqualified" in text


def test_graphviz_draws_a_deal_with_its_marks(client: TestClient) -> None:
    if shutil.which("dot") is None:
        if os.environ.get("CI"):
            pytest.fail("Graphviz (`dot`) is missing in CI: .ci/run installs it before the tests")
        pytest.skip("Graphviz (`dot`) is not installed here; CI installs it (apt-get install graphviz)")
    oid = client.post("/v1/opportunities", json=WATER_DEAL).json()["id"]
    response = client.get(f"/v1/opportunities/{oid}/diagram", headers={"Accept": "image/svg+xml"})
    text = svg_text(response)
    assert all(code in text for code in blocking(client, oid, "opening"))
    assert 'fill="#fff4ce"' in response.text  # the current step
