"""Rules written in CEL: type-checked against the evaluation context, run on plain documents."""

import re
import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable, Mapping
from dataclasses import dataclass
from typing import Any

from cel_expr_python import cel
from google.protobuf import descriptor_pb2, descriptor_pool, struct_pb2, wrappers_pb2

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


def _problems(error: Exception) -> list[RuleProblem]:
    found = [RuleProblem(m.group(3).strip(), int(m.group(1)), int(m.group(2)))
             for m in _ERROR.finditer(str(error))]
    return found or [RuleProblem(str(error))]


class RuleEnvironment:
    """Compiles rules over one evaluation context: checked with its types, run on plain data.

    Converting a document's data to CEL values costs far more than most rules do (about 4 µs a
    record). A binding converts each variable when a rule first reads it and keeps the result, so
    bindings of data that carries a fingerprint are kept, up to `keep` of them, and used again
    while the data has the same fingerprint.
    """

    def __init__(self, context_schema: Mapping[str, Any], keep: int = 1024) -> None:
        schema = _Schema(context_schema)
        self.variables = tuple(schema.variables)
        self._checker = cel.NewEnv(descriptor_pool=schema.pool, variables=schema.variables)
        self._runtime = cel.NewEnv(variables={name: cel.Type.DYN for name in schema.variables})
        self._kept: OrderedDict[Hashable, tuple[Any, threading.Lock]] = OrderedDict()
        self._keep = keep
        self._lock = threading.Lock()

    def compile(self, source: str) -> "Rule":
        """A rule ready to run; RuleInvalid lists every problem with its position."""
        try:
            checked = self._checker.compile(source)
        except RuntimeError as error:
            raise RuleInvalid(_problems(error)) from None
        if checked.return_type() != cel.Type.BOOL:
            raise RuleInvalid([RuleProblem(f"must be true or false, not {checked.return_type().name().lower()}",
                                           1, 1)])
        # Every name the source mentions that is a variable: a superset of what it reads.
        names = frozenset(_NAME.findall(source)) & frozenset(self.variables)
        return Rule(source, self._runtime.compile(source, disable_check=True), names)

    def never_true(self, rule: "Rule") -> bool:
        """Whether the rule is false without reading any data (so no deal can ever meet it)."""
        return rule.evaluate(self.bind({})) is False

    def bind(self, data: Mapping[str, Any]) -> Any:
        """Variables bound to plain data, each converted when a rule first reads it."""
        return self._runtime.Activation(data=data)

    def kept(self, fingerprint: Hashable, data: Callable[[], Mapping[str, Any]]) -> tuple[Any, threading.Lock]:
        """The kept binding of the data with that fingerprint (bound now if none is kept), and the lock
        to hold while a rule reads it: a binding converts on first read, so one rule reads at a time."""
        with self._lock:
            kept = self._kept.get(fingerprint)
            if kept is not None:
                self._kept.move_to_end(fingerprint)
        if kept is None:
            kept = (self.bind(data()), threading.Lock())
            with self._lock:
                kept = self._kept.setdefault(fingerprint, kept)
                if len(self._kept) > self._keep:
                    self._kept.popitem(last=False)
        return kept


@dataclass(frozen=True, eq=False)
class Rule:
    """A compiled rule and its source."""

    source: str
    expression: Any
    variables: frozenset[str] = frozenset()

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
