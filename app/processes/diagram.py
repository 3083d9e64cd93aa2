"""A process drawn, with where a deal stands if one is given: DOT for Graphviz's SVG, and Mermaid text."""

import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field

from app.engine.definition import OUTCOMES, ProcessDefinition, Step
from app.engine.gates import GateResult
from app.errors import Unavailable

SVG = "image/svg+xml"
MERMAID = "text/vnd.mermaid"
FORMS = (SVG, MERMAID, "text/plain")  # the first is the default; both text forms are Mermaid
DOT_SECONDS = 5.0
CLOSED_LABEL = "closed: from any open step"
_DOT_STYLE = {"passed": 'style="rounded,filled", fillcolor="#e6f4ea", color="#1e8e3e"',
              "current": 'style="rounded,filled,bold", fillcolor="#fff4ce", color="#b06000", penwidth=2',
              "holds": 'color="#1e8e3e", fontcolor="#1e8e3e"',
              "blocked": 'color="#c5221f", fontcolor="#c5221f", penwidth=2'}
_MERMAID_STYLE = {"passed": "fill:#e6f4ea,stroke:#1e8e3e",
                  "current": "fill:#fff4ce,stroke:#b06000,stroke-width:3px",
                  "won": "stroke-width:3px",
                  "holds": "stroke:#1e8e3e",
                  "blocked": "stroke:#c5221f,stroke-width:2px"}


@dataclass(frozen=True)
class Standing:
    """Where a deal stands in its process: its step, its status, and each gate ahead as judged now."""

    step: str
    status: str
    gates: Mapping[str, GateResult] = field(default_factory=dict)


@dataclass(frozen=True)
class _Edge:
    """A forward transition between two steps, labelled with the gate into the second (one line each)."""

    source: str
    dest: str
    label: tuple[str, ...]
    state: str  # holds or blocked for a gate judged for a deal, else empty


def _ids(definition: ProcessDefinition) -> dict[str, str]:
    """Node ids by step name: positions, since step names may hold characters Mermaid ids cannot."""
    return {step.name: f"s{i}" for i, step in enumerate(definition.steps)}


def _gate_label(step: Step) -> tuple[str, ...]:
    """The gate as the process states it: how many requirements block, and how many only warn."""
    if not step.gate:
        return ()
    required = sum(r.severity == "block" for r in step.gate)
    warnings = len(step.gate) - required
    label = f"gate: {required} required"
    if warnings:
        label += f", {warnings} warning{'s' if warnings > 1 else ''}"
    return (label,)


def _judged_label(result: GateResult) -> tuple[tuple[str, ...], str]:
    """A gate as judged for a deal: it holds, or it is blocked by the codes listed."""
    if result.passed:
        return ("gate holds",), "holds"
    return ("blocked:", *(f.code for f in result.unmet if f.severity == "block")), "blocked"


def _edges(definition: ProcessDefinition, standing: Standing | None) -> list[_Edge]:
    ids = _ids(definition)
    gates = standing.gates if standing else {}
    edges = []
    for before, step in zip(definition.steps, definition.steps[1:]):
        label, state = _judged_label(gates[step.name]) if step.name in gates else (_gate_label(step), "")
        edges.append(_Edge(ids[before.name], ids[step.name], label, state))
    return edges


def _marks(definition: ProcessDefinition, standing: Standing | None) -> dict[str, str]:
    """passed or current, by node id: the steps behind a deal, where it stands, and its outcome if closed."""
    if standing is None:
        return {}
    ids = _ids(definition)
    reached = definition.position(standing.step)
    marks = {ids[s.name]: "passed" for s in definition.steps[:reached]}
    marks[ids[standing.step]] = "current"
    if standing.status in OUTCOMES:
        marks[standing.status] = "current"
    return marks


def _dot_text(*lines: str) -> str:
    """A DOT string of one line or more."""
    return '"' + "\\n".join(line.replace("\\", "\\\\").replace('"', '\\"') for line in lines) + '"'


def to_dot(definition: ProcessDefinition, standing: Standing | None = None) -> str:
    """The definition (and a deal's standing) as a Graphviz DOT digraph, left to right."""
    ids, marks = _ids(definition), _marks(definition, standing)
    title = f"{definition.title} ({definition.key}, version {definition.version})"
    lines = [f"digraph {_dot_text(definition.key)} {{",
             f"    graph [rankdir=LR, newrank=true, label={_dot_text(title)}, labelloc=t, fontname=Helvetica]",
             "    node [shape=box, style=rounded, fontname=Helvetica]",
             "    edge [fontname=Helvetica, fontsize=10]"]

    def node(node_id: str, label: tuple[str, ...], *extra: str) -> str:
        style = [f"label={_dot_text(*label)}", *extra] + ([_DOT_STYLE[marks[node_id]]] if node_id in marks else [])
        return f"        {node_id} [{', '.join(style)}]"

    for i, phase in enumerate(definition.phases):
        lines += [f"    subgraph cluster_p{i} {{", f"        label={_dot_text(phase)}"]
        lines += [node(ids[s.name], (s.name, "(won)"), "peripheries=2") if s.name == definition.won_step.name
                  else node(ids[s.name], (s.name,)) for s in definition.steps if s.phase == phase]
        lines.append("    }")
    lines += ["    subgraph cluster_closed {", f"        label={_dot_text(CLOSED_LABEL)}", "        style=dashed"]
    lines += [node(outcome, (outcome,), "shape=oval") for outcome in OUTCOMES]
    lines.append("    }")
    # Ranked with the won step: left alone, Graphviz would put the closed states before the first step.
    lines.append(f"    {{rank=same; {ids[definition.won_step.name]}; {'; '.join(OUTCOMES)}}}")
    for edge in _edges(definition, standing):
        attributes = ([f"label={_dot_text(*edge.label)}"] if edge.label else []) + (
            [_DOT_STYLE[edge.state]] if edge.state else [])
        lines.append(f"    {edge.source} -> {edge.dest}" + (f" [{', '.join(attributes)}]" if attributes else ""))
    lines.append("}")
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return '"' + text.replace('"', "#quot;") + '"'


def to_mermaid(definition: ProcessDefinition, standing: Standing | None = None) -> str:
    """The definition (and a deal's standing) as a Mermaid flowchart, left to right, a subgraph per phase."""
    ids, marks = _ids(definition), _marks(definition, standing)
    won = ids[definition.won_step.name]
    lines = ["flowchart LR"]
    for i, phase in enumerate(definition.phases):
        lines.append(f"    subgraph p{i} [{_mermaid_text(phase)}]")
        lines += [f"        {ids[s.name]}[[{_mermaid_text(s.name)}]]" if ids[s.name] == won
                  else f"        {ids[s.name]}[{_mermaid_text(s.name)}]"
                  for s in definition.steps if s.phase == phase]
        lines.append("    end")
    lines.append(f"    subgraph closed [{_mermaid_text(CLOSED_LABEL)}]")
    lines += [f"        {outcome}([{_mermaid_text(outcome)}])" for outcome in OUTCOMES]
    lines.append("    end")
    edges = _edges(definition, standing)
    lines += [f"    {e.source} -->|{_mermaid_text('<br>'.join(e.label))}| {e.dest}" if e.label
              else f"    {e.source} --> {e.dest}" for e in edges]
    classes = {"won", *marks.values()}
    lines += [f"    classDef {name} {_MERMAID_STYLE[name]}" for name in _MERMAID_STYLE if name in classes]
    lines.append(f"    class {won} won")
    lines += [f"    class {node_id} {mark}" for node_id, mark in marks.items()]
    lines += [f"    linkStyle {i} {_MERMAID_STYLE[e.state]}" for i, e in enumerate(edges) if e.state]
    return "\n".join(lines) + "\n"


def render_svg(dot_text: str) -> str:
    """SVG drawn by Graphviz's `dot` from DOT text; Unavailable (503) when `dot` is not installed or stalls."""
    try:
        done = subprocess.run(["dot", "-Tsvg"], input=dot_text, capture_output=True, text=True,
                              timeout=DOT_SECONDS, check=False)
    except FileNotFoundError:
        raise Unavailable("Graphviz (`dot`) is not installed on the server, so the SVG cannot be drawn. The "
                          f"Mermaid form is available: send `Accept: {MERMAID}`.", allowed=list(FORMS[1:])) from None
    except subprocess.TimeoutExpired:
        raise Unavailable(f"Graphviz (`dot`) did not draw the SVG within {DOT_SECONDS:g} seconds. The Mermaid "
                          f"form is available: send `Accept: {MERMAID}`.", allowed=list(FORMS[1:])) from None
    if done.returncode != 0:
        raise RuntimeError(f"dot exited with {done.returncode}: {done.stderr.strip()}")
    return done.stdout


def offered() -> tuple[str, ...]:
    """FORMS in the order a vague Accept chooses from: SVG first where Graphviz is installed, else Mermaid text."""
    return FORMS if shutil.which("dot") else (*FORMS[1:], SVG)


def draw(definition: ProcessDefinition, form: str, standing: Standing | None = None) -> str:
    """The definition (and a deal's standing) drawn in one of FORMS."""
    if form == SVG:
        return render_svg(to_dot(definition, standing))
    return to_mermaid(definition, standing)
