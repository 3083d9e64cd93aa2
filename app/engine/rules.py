"""Rules written in CEL: type-checked against the evaluation context, run on plain documents."""

import logging
import re
import threading
import time
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2, wrappers_pb2

from app.engine.cost import RuleLimits, RuleTooCostly, estimate_cost
from app.engine.rule_messages import explain
from app.lru import Lru

_FIELD = descriptor_pb2.FieldDescriptorProto
_PACKAGE = "dealgate.context"
_SCALARS = {  # JSON Schema type -> (proto field type, its nullable wrapper)
    "string": (_FIELD.TYPE_STRING, ".google.protobuf.StringValue"),
    "integer": (_FIELD.TYPE_INT64, ".google.protobuf.Int64Value"),
    "number": (_FIELD.TYPE_DOUBLE, ".google.protobuf.DoubleValue"),
    "boolean": (_FIELD.TYPE_BOOL, ".google.protobuf.BoolValue"),
}
_ERROR = re.compile(r"ERROR: <input>:(\d+):(\d+): (.*)")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_LOG = logging.getLogger("dealgate.rules")
HOLD_BACK_SECONDS = 300.0  # how long a rule that overran a gate's budget on its own is not run


@dataclass(frozen=True)
class OverBudget:
    """A rule not run, or run past its gate's time budget: its answer is not used."""

    seconds: float

    def __str__(self) -> str:
        return f"the gate's rules ran past their budget ({self.seconds * 1000:.1f} ms spent)"


@dataclass(frozen=True)
class RuleProblem:
    """Why a rule cannot be used, and where in its source (1-based line and column)."""

    message: str
    line: int | None = None
    column: int | None = None


class RuleInvalid(Exception):
    """A rule that does not compile, reads fields that do not exist, or is not true/false."""

    def __init__(self, problems: list[RuleProblem]) -> None:
        super().__init__("; ".join(p.message for p in problems))
        self.problems = problems


class _Schema:
    """A JSON Schema (with $defs) turned into protobuf message types the CEL checker knows."""

    def __init__(self, schema: Mapping[str, Any]) -> None:
        self._defs = schema.get("$defs", {})
        self._file = descriptor_pb2.FileDescriptorProto(name="dealgate_context.proto", package=_PACKAGE,
                                                        syntax="proto3")
        self._file.dependency.extend(["google/protobuf/wrappers.proto", "google/protobuf/struct.proto"])
        self._messages: set[str] = set()
        self.variables = {name: self._type(node, name) for name, node in schema["properties"].items()}
        self.pool = descriptor_pool.DescriptorPool()
        for module in (wrappers_pb2, struct_pb2):
            self.pool.AddSerializedFile(module.DESCRIPTOR.serialized_pb)
        self.pool.Add(self._file)

    def _resolve(self, node: Mapping[str, Any]) -> tuple[Mapping[str, Any], str | None, bool]:
        """The node without its null alternative and $ref: the node, its definition name, nullable."""
        nullable = False
        options = node.get("anyOf")
        if options:
            rest = [o for o in options if o.get("type") != "null"]
            nullable = len(rest) < len(options)
            node = rest[0] if len(rest) == 1 else {}
        name = None
        if "$ref" in node:
            name = node["$ref"].rsplit("/", 1)[-1]
            node = self._defs[name]
        return node, name, nullable

    def _type(self, node: Mapping[str, Any], name: str) -> Any:
        node, ref, _ = self._resolve(node)
        if node.get("type") == "array":
            return cel.Type.List(self._type(node.get("items", {}), name))
        if node.get("type") == "object" and "properties" in node:
            return cel.Type(f"{_PACKAGE}.{self._message(node, ref or name)}")
        return {"string": cel.Type.STRING, "integer": cel.Type.INT, "number": cel.Type.DOUBLE,
                "boolean": cel.Type.BOOL}.get(node.get("type", ""), cel.Type.DYN)

    def _message(self, node: Mapping[str, Any], name: str) -> str:
        name = re.sub(r"\W", "_", name)
        if name in self._messages:
            return name
        self._messages.add(name)
        message = self._file.message_type.add(name=name)
        for number, (field_name, child) in enumerate(node["properties"].items(), start=1):
            message.field.add(name=field_name, number=number, **self._field(child, f"{name}_{field_name}"))
        return name

    def _field(self, node: Mapping[str, Any], name: str) -> dict[str, Any]:
        node, ref, nullable = self._resolve(node)
        kind = node.get("type")
        if kind == "array":
            return {**self._field(node.get("items", {}), name), "label": _FIELD.LABEL_REPEATED}
        if kind == "object" and "properties" in node:
            return {"type": _FIELD.TYPE_MESSAGE, "type_name": f".{_PACKAGE}.{self._message(node, ref or name)}",
                    "label": _FIELD.LABEL_OPTIONAL}
        if kind in _SCALARS:
            scalar, wrapper = _SCALARS[kind]
            if nullable:
                return {"type": _FIELD.TYPE_MESSAGE, "type_name": wrapper, "label": _FIELD.LABEL_OPTIONAL}
            return {"type": scalar, "label": _FIELD.LABEL_OPTIONAL}
        return {"type": _FIELD.TYPE_MESSAGE, "type_name": ".google.protobuf.Value", "label": _FIELD.LABEL_OPTIONAL}


def _position(source: str, offset: int | None) -> tuple[int | None, int | None]:
    """The 1-based line and column of a code-point offset into the source."""
    if offset is None:
        return None, None
    line_start = source.rfind("\n", 0, offset) + 1
    return source.count("\n", 0, offset) + 1, offset - line_start + 1


def _problems(error: Exception, source: str, schema: Mapping[str, Any]) -> list[RuleProblem]:
    """CEL's compile errors, each said for the rule's author, without those that only follow from another."""
    found = [RuleProblem(explain(m.group(3).strip(), source, int(m.group(1)), int(m.group(2)), schema),
                         int(m.group(1)), int(m.group(2)))
             for m in _ERROR.finditer(str(error)) if "*error*" not in m.group(3)]
    return found or [RuleProblem(str(error))]


class RuleEnvironment:
    """Compiles rules over one evaluation context: checked with its types, run on plain data.

    Converting a document's data to CEL values costs far more than most rules do (about 4 µs a
    record). A binding converts each variable when a rule first reads it and keeps the result, so
    bindings of data that carries a fingerprint are kept, up to `keep` of them, and used again
    while the data has the same fingerprint.
    """

    def __init__(self, context_schema: Mapping[str, Any], *, limits: RuleLimits = RuleLimits(),
                 bounds: Mapping[str, Any] | None = None, budget: float = 0.05, keep: int = 1024) -> None:
        schema = _Schema(context_schema)
        self.limits = limits
        self.budget = budget
        self._bounds = bounds or context_schema
        self._context = context_schema
        self.variables = tuple(schema.variables)
        self._checker = cel.NewEnv(descriptor_pool=schema.pool, variables=schema.variables)
        self._runtime = cel.NewEnv(variables={name: cel.Type.DYN for name in schema.variables})
        self._kept: Lru[tuple[Any, threading.Lock]] = Lru(keep)
        self._held_back: dict[str, float] = {}  # rule source -> when it may run again

    def compile(self, source: str, *, priced: bool = True) -> "Rule":
        """A rule ready to run; RuleInvalid lists every problem with its position. A priced rule is refused
        when its worst-case cost cannot be bounded or is over the limit; a rule already accepted (stored in a
        published version) is not priced again, so a lower limit never stops deals in flight."""
        try:
            checked = self._checker.compile(source)
        except RuntimeError as error:
            raise RuleInvalid(_problems(error, source, self._context)) from None
        if checked.return_type() != cel.Type.BOOL:
            raise RuleInvalid([RuleProblem(f"must be true or false, not {checked.return_type().name().lower()}",
                                           1, 1)])
        cost = None
        if priced:
            try:
                cost = estimate_cost(checked.serialize(), self._bounds, self.limits)
            except RuleTooCostly as refused:
                raise RuleInvalid([RuleProblem(f"cannot be bounded: {refused.reason}",
                                               *_position(source, refused.offset))]) from None
        # Every name the source mentions that is a variable: a superset of what it reads.
        names = frozenset(_NAME.findall(source)) & frozenset(self.variables)
        return Rule(source, self._runtime.compile(source, disable_check=True), names, cost)

    def never_true(self, rule: "Rule") -> bool:
        """Whether the rule is false without reading any data (so no deal can ever meet it); asked only of
        priced rules, whose worst case is bounded."""
        assert rule.cost is not None, "only a priced rule is run when a version is saved"
        return rule.evaluate(self.bind({})) is False

    def run(self, rule: "Rule", activation: Any, spent: float) -> tuple[bool | str | OverBudget, float]:
        """The rule's answer within the gate's time budget, and the time spent on it. A gate that has spent its
        budget runs no more rules; a rule that overran the budget on its own is held back for a while, so
        however it escaped its price, it cannot hold up request after request."""
        held_until = self._held_back.get(rule.source)
        if spent > self.budget or held_until is not None and held_until > time.monotonic():
            return OverBudget(spent), 0.0
        started = time.perf_counter()
        result = rule.evaluate(activation)
        elapsed = time.perf_counter() - started
        if spent + elapsed <= self.budget:
            return result, elapsed
        if elapsed > self.budget:
            self._held_back[rule.source] = time.monotonic() + HOLD_BACK_SECONDS
        _LOG.warning("rule over the gate budget of %.0f ms: took %.1f ms (gate %.1f ms): %.200s",
                     self.budget * 1000, elapsed * 1000, (spent + elapsed) * 1000, rule.source)
        return OverBudget(spent + elapsed), elapsed

    def bind(self, data: Mapping[str, Any]) -> Any:
        """Variables bound to plain data, each converted when a rule first reads it."""
        return self._runtime.Activation(data=data)

    def kept(self, fingerprint: Hashable, data: Callable[[], Mapping[str, Any]]) -> tuple[Any, threading.Lock]:
        """The kept binding of the data with that fingerprint (bound now if none is kept), and the lock
        to hold while a rule reads it: a binding converts on first read, so one rule reads at a time."""
        return self._kept.get_or_make(fingerprint, lambda: (self.bind(data()), threading.Lock()))


@dataclass(frozen=True, eq=False)
class Rule:
    """A compiled rule and its source."""

    source: str
    expression: Any
    variables: frozenset[str] = frozenset()
    cost: float | None = None  # the worst case priced when it was saved

    def evaluate(self, activation: Any) -> bool | str:
        """True or False; a string says why the rule could not be evaluated on this document."""
        try:
            result = self.expression.eval(activation)
        except RuntimeError as error:
            return str(error)
        value = result.value()
        if result.type() == cel.Type.ERROR:
            return str(value)
        if isinstance(value, bool):
            return value
        return f"evaluated to {value!r}, not true or false"
