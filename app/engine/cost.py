"""A rule's worst-case cost, estimated from its checked syntax tree before it ever runs.

CEL's runtime caps how many times its loops turn, not what each turn costs: one `matches` over a
long text, or a list rebuilt on every turn of a `map`, can run for minutes while holding the
interpreter lock. So every rule is priced when it is saved, the way CEL's own cost estimator
prices Kubernetes admission rules: each list it walks is taken at the largest size the document
allows, each text at its longest, and a rule whose worst case is over the limit is refused.
A unit is about one step of CEL's runtime (a loop turn, a field read, a comparison).
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import re2
from google.protobuf import any_pb2, descriptor_pb2, descriptor_pool, message_factory

_TRAVERSAL = 0.1  # units per character read
_COPY = 1.0  # units per list element copied
_REGEX_STEP = 2.0  # units per character and pattern instruction of a match at its worst
_FORMATS = {"uuid": 36, "date": 10, "date-time": 40}  # the longest text of each string format


@dataclass(frozen=True)
class RuleLimits:
    """What a rule may cost, and the sizes its data can reach."""

    cost: int = 10_000
    literal_chars: int = 1_000
    literal_items: int = 100
    regex_program: int = 500
    nesting: int = 2
    per_version: int = 300  # rules and conditions one process version holds (each takes a while to compile)
    text: int = 10_000  # the longest text a field holds
    items: int = 200  # the longest list a record field holds
    records: Callable[[str], int] = field(default=lambda _kind: 200)  # records of a kind per deal


class RuleTooCostly(Exception):
    """A rule that cannot be bounded: the reason, and the code-point offset of the part at fault."""

    def __init__(self, reason: str, offset: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.offset = offset


def _checked_expr() -> type[Any]:
    """The message of a checked CEL syntax tree (cel.expr.CheckedExpr), declared here by field number."""
    f = descriptor_pb2.FieldDescriptorProto
    file = descriptor_pb2.FileDescriptorProto(name="dealgate_cel_syntax.proto", package="cel.expr", syntax="proto3")

    def message(name: str, fields: list[tuple[str, int, int, str | None, bool]],
                parent: Any = None) -> Any:
        made = (parent.nested_type if parent else file.message_type).add(name=name)
        for field_name, number, kind, type_name, repeated in fields:
            made.field.add(name=field_name, number=number, type=kind, type_name=type_name,
                           label=f.LABEL_REPEATED if repeated else f.LABEL_OPTIONAL)
        return made

    expr, ref = f.TYPE_MESSAGE, ".cel.expr.Expr"
    message("Constant", [("bool_value", 2, f.TYPE_BOOL, None, False), ("int64_value", 3, f.TYPE_INT64, None, False),
                         ("uint64_value", 4, f.TYPE_UINT64, None, False),
                         ("double_value", 5, f.TYPE_DOUBLE, None, False),
                         ("string_value", 6, f.TYPE_STRING, None, False),
                         ("bytes_value", 7, f.TYPE_BYTES, None, False)])
    node = message("Expr", [("id", 2, f.TYPE_INT64, None, False),
                            ("const_expr", 3, expr, ".cel.expr.Constant", False),
                            ("ident_expr", 4, expr, ".cel.expr.Expr.Ident", False),
                            ("select_expr", 5, expr, ".cel.expr.Expr.Select", False),
                            ("call_expr", 6, expr, ".cel.expr.Expr.Call", False),
                            ("list_expr", 7, expr, ".cel.expr.Expr.CreateList", False),
                            ("struct_expr", 8, expr, ".cel.expr.Expr.CreateStruct", False),
                            ("comprehension_expr", 9, expr, ".cel.expr.Expr.Comprehension", False)])
    node.oneof_decl.add(name="expr_kind")
    for kind_field in node.field[1:]:
        kind_field.oneof_index = 0
    message("Ident", [("name", 1, f.TYPE_STRING, None, False)], node)
    message("Select", [("operand", 1, expr, ref, False), ("field", 2, f.TYPE_STRING, None, False),
                       ("test_only", 3, f.TYPE_BOOL, None, False)], node)
    message("Call", [("target", 1, expr, ref, False), ("function", 2, f.TYPE_STRING, None, False),
                     ("args", 3, expr, ref, True)], node)
    message("CreateList", [("elements", 1, expr, ref, True)], node)
    struct = message("CreateStruct", [("entries", 2, expr, ".cel.expr.Expr.CreateStruct.Entry", True)], node)
    message("Entry", [("map_key", 3, expr, ref, False), ("value", 4, expr, ref, False)], struct)
    message("Comprehension", [("iter_var", 1, f.TYPE_STRING, None, False), ("iter_range", 2, expr, ref, False),
                              ("accu_var", 3, f.TYPE_STRING, None, False), ("accu_init", 4, expr, ref, False),
                              ("loop_condition", 5, expr, ref, False), ("loop_step", 6, expr, ref, False),
                              ("result", 7, expr, ref, False), ("iter_var2", 8, f.TYPE_STRING, None, False)], node)
    info = message("SourceInfo", [("positions", 4, expr, ".cel.expr.SourceInfo.PositionsEntry", True)])
    entry = message("PositionsEntry", [("key", 1, f.TYPE_INT64, None, False),
                                       ("value", 2, f.TYPE_INT32, None, False)], info)
    entry.options.map_entry = True
    message("CheckedExpr", [("expr", 4, expr, ref, False), ("source_info", 5, expr, ".cel.expr.SourceInfo", False)])
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("cel.expr.CheckedExpr"))


_CHECKED = _checked_expr()
_REGEX_OPTIONS = re2.Options()
_REGEX_OPTIONS.log_errors = False


@dataclass(frozen=True)
class Shape:
    """What the estimator knows of a value: its kind, its largest length, and its parts."""

    kind: str = "other"  # list, map, string, object, other
    length: int = 1
    items: "Shape | None" = None  # a list's elements, a map's values
    fields: Mapping[str, Any] | None = None  # an object's JSON Schema properties

    def weight(self) -> float:
        """About what reading the whole value costs (comparing it, converting it)."""
        if self.kind == "string":
            return 1 + _TRAVERSAL * self.length
        if self.kind in ("list", "map"):
            return 1 + self.length * (self.items.weight() if self.items else 1)
        return 1 + (len(self.fields) if self.fields else 0)


_OTHER = Shape()


class _Estimator:
    """Walks a checked syntax tree, pricing each node at its worst case."""

    def __init__(self, schema: Mapping[str, Any], limits: RuleLimits, positions: Mapping[int, int]) -> None:
        self._defs = schema.get("$defs", {})
        self._limits = limits
        self._positions = positions
        self._variables = {name: self.shape(node, top=name) for name, node in schema["properties"].items()}

    def fail(self, node: Any, reason: str) -> RuleTooCostly:
        return RuleTooCostly(reason, self._positions.get(node.id))

    def shape(self, node: Mapping[str, Any], top: str | None = None) -> Shape:
        """The shape of a JSON Schema node, lists and texts at the largest the document allows."""
        options = node.get("anyOf")
        if options:
            rest = [o for o in options if o.get("type") != "null"]
            node = rest[0] if len(rest) == 1 else {}
        if "$ref" in node:
            node = self._defs[node["$ref"].rsplit("/", 1)[-1]]
        kind = node.get("type")
        if kind == "array":
            length = self._limits.records(top) if top else node.get("maxItems", self._limits.items)
            return Shape("list", length, self.shape(node.get("items", {})))
        if kind == "string":
            return Shape("string", node.get("maxLength", _FORMATS.get(node.get("format", ""), self._limits.text)))
        if kind == "object" and "properties" in node:
            return Shape("object", fields=node["properties"])
        return _OTHER

    def estimate(self, node: Any, scope: Mapping[str, Shape], depth: int = 0) -> tuple[float, Shape]:
        """The worst-case cost of a node and the shape of its value."""
        which = node.WhichOneof("expr_kind")
        if which == "const_expr":
            return self.constant(node)
        if which == "ident_expr":
            return 1, scope.get(node.ident_expr.name, self._variables.get(node.ident_expr.name, _OTHER))
        if which == "select_expr":
            cost, operand = self.estimate(node.select_expr.operand, scope, depth)
            if node.select_expr.test_only or not operand.fields:
                return cost + 1, _OTHER
            child = operand.fields.get(node.select_expr.field)
            return cost + 1, self.shape(child) if child is not None else _OTHER
        if which == "list_expr":
            elements = node.list_expr.elements
            if len(elements) > self._limits.literal_items:
                raise self.fail(node, f"a list literal has {len(elements)} elements; at most "
                                      f"{self._limits.literal_items} are allowed")
            priced = [self.estimate(e, scope, depth) for e in elements]
            items = max((s for _, s in priced), key=Shape.weight, default=_OTHER)
            return 1 + sum(c for c, _ in priced), Shape("list", len(elements), items)
        if which == "struct_expr":
            entries = node.struct_expr.entries
            if len(entries) > self._limits.literal_items:
                raise self.fail(node, f"a map literal has {len(entries)} entries; at most "
                                      f"{self._limits.literal_items} are allowed")
            cost, values = 1.0, _OTHER
            for entry in entries:
                key_cost, _ = self.estimate(entry.map_key, scope, depth)
                value_cost, value = self.estimate(entry.value, scope, depth)
                cost += key_cost + value_cost
                values = max(values, value, key=Shape.weight)
            return cost, Shape("map", len(entries), values)
        if which == "comprehension_expr":
            return self.comprehension(node, scope, depth)
        if which == "call_expr":
            return self.call(node, scope, depth)
        return 1, _OTHER

    def constant(self, node: Any) -> tuple[float, Shape]:
        text = node.const_expr.string_value or node.const_expr.bytes_value
        if len(text) > self._limits.literal_chars:
            raise self.fail(node, f"a literal of {len(text)} characters; at most {self._limits.literal_chars} "
                                  "are allowed")
        return 1, Shape("string", len(text)) if text else _OTHER

    def comprehension(self, node: Any, scope: Mapping[str, Shape], depth: int) -> tuple[float, Shape]:
        loop = node.comprehension_expr
        if depth >= self._limits.nesting:
            raise self.fail(node, f"loops (all, exists, exists_one, map, filter) nest more than "
                                  f"{self._limits.nesting} deep")
        range_cost, over = self.estimate(loop.iter_range, scope, depth)
        turns = over.length if over.kind in ("list", "map") else 1
        inner = dict(scope)
        inner[loop.iter_var] = (over.items or _OTHER) if over.kind == "list" else _OTHER
        if loop.iter_var2:
            inner[loop.iter_var2] = _OTHER if over.kind == "list" else (over.items or _OTHER)
        init_cost, accu = self.estimate(loop.accu_init, scope, depth)
        inner[loop.accu_var] = accu
        _, stepped = self.estimate(loop.loop_step, inner, depth + 1)
        if stepped.kind in ("list", "map", "string") and stepped.length > accu.length:
            # The accumulator grows each turn (map, filter): price every turn at its largest.
            accu = Shape(stepped.kind, accu.length + turns * (stepped.length - accu.length), stepped.items)
            inner[loop.accu_var] = accu
        step_cost, _ = self.estimate(loop.loop_step, inner, depth + 1)
        condition_cost, _ = self.estimate(loop.loop_condition, inner, depth + 1)
        result_cost, result = self.estimate(loop.result, inner, depth)
        return range_cost + init_cost + turns * (1 + step_cost + condition_cost) + result_cost, result

    def call(self, node: Any, scope: Mapping[str, Shape], depth: int) -> tuple[float, Shape]:
        call = node.call_expr
        parts = ([call.target] if call.HasField("target") else []) + list(call.args)
        priced = [self.estimate(p, scope, depth) for p in parts]
        cost = 1 + sum(c for c, _ in priced)
        shapes = [s for _, s in priced]
        name = call.function
        if name == "matches":
            pattern = parts[-1]
            if pattern.WhichOneof("expr_kind") != "const_expr" or not pattern.const_expr.string_value:
                raise self.fail(pattern, "matches() takes a pattern written in the rule, not one read from data")
            try:
                program = re2.compile(pattern.const_expr.string_value, _REGEX_OPTIONS).programsize
            except re2.error as error:
                raise self.fail(pattern, f"the pattern does not compile: {error}") from None
            if program > self._limits.regex_program:
                raise self.fail(pattern, f"the pattern compiles to {program} instructions; at most "
                                         f"{self._limits.regex_program} are allowed")
            # RE2 runs in time linear in the text, up to the program's size per character (2 units a step).
            return cost + program * (1 + _REGEX_STEP * shapes[0].length), _OTHER
        if name == "_+_" and shapes[0].kind in ("string", "list"):
            length = shapes[0].length + shapes[1].length
            items = max(shapes[0].items or _OTHER, shapes[1].items or _OTHER, key=Shape.weight)
            return cost + length * (_TRAVERSAL if shapes[0].kind == "string" else _COPY), \
                Shape(shapes[0].kind, length, items if shapes[0].kind == "list" else None)
        if name == "@in":
            member, container = shapes
            if container.kind == "list":
                return cost + container.length * min(member.weight(), (container.items or _OTHER).weight()), _OTHER
            return cost + member.weight(), _OTHER
        if name == "_[_]":
            container = shapes[0]
            return cost, (container.items or _OTHER) if container.kind in ("list", "map") else _OTHER
        if name in ("_==_", "_!=_", "_<_", "_<=_", "_>_", "_>=_"):
            return cost + min(s.weight() for s in shapes), _OTHER
        if name == "_?_:_":
            return cost, max(shapes[1], shapes[2], key=Shape.weight)
        if name in ("size", "_&&_", "_||_", "!_", "@not_strictly_false", "-_", "_-_", "_*_", "_/_", "_%_", "_+_",
                    "int", "uint", "double", "bool", "type", "dyn"):
            return cost, shapes[0] if name == "dyn" else _OTHER
        # Any other function (string(), timestamp(), contains(), startsWith()...) may read all of its arguments.
        read = sum(s.weight() for s in shapes)
        result = Shape("string", sum(s.length if s.kind == "string" else 32 for s in shapes)) \
            if name == "string" else _OTHER
        return cost + read, result


def estimate_cost(serialized: bytes, schema: Mapping[str, Any], limits: RuleLimits) -> float:
    """The worst-case cost of a checked rule (as serialized by CEL); RuleTooCostly when it cannot be bounded
    or is over the limit."""
    wrapper = any_pb2.Any.FromString(serialized)
    checked = _CHECKED.FromString(wrapper.value)
    estimator = _Estimator(schema, limits, checked.source_info.positions)
    cost, _ = estimator.estimate(checked.expr, {})
    if cost > limits.cost:
        raise RuleTooCostly(f"its worst case costs {cost:,.0f} units, over the limit of {limits.cost:,}; "
                            "a loop visits every element a list may hold (the largest record list a deal "
                            "may have), so nest fewer loops, read fewer lists, or use a built-in kind", None)
    return cost
