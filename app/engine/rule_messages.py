"""CEL's compile errors in the words of the person who wrote the rule: the names as written, the nearest
known name, and type mismatches said plainly."""

import difflib
import re
from collections.abc import Mapping
from typing import Any

_UNDEFINED_FIELD = re.compile(r"undefined field '(\w+)' not found in struct '(?:[\w]+\.)*(\w+)'")
_UNDECLARED = re.compile(r"undeclared reference to '(\w+)'")
_OVERLOAD = re.compile(r"found no matching overload for '([^']+)' applied to '\((.*)\)'")
_PATH_CHARS = re.compile(r"[\w.]*$")
_TYPES = {"int": "an integer", "uint": "an integer", "double": "a decimal number", "string": "text",
          "bool": "true or false", "null_type": "null", "google.protobuf.Timestamp": "a time",
          "google.protobuf.Duration": "a duration", "bytes": "bytes"}
_VERBS = {"_>_": "compares", "_<_": "compares", "_>=_": "compares", "_<=_": "compares", "_==_": "compares",
          "_!=_": "compares", "_+_": "adds", "_-_": "subtracts", "_*_": "multiplies", "_/_": "divides",
          "_%_": "takes the remainder of", "@in": "looks for"}


def _nearest(name: str, known: list[str]) -> str:
    """A hint naming the known name closest to a misspelt one, if one is close."""
    close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    return f"; did you mean {close[0]!r}?" if close else f"; known names: {', '.join(sorted(known))}"


def _written(source: str, line: int | None, column: int | None, name: str) -> str:
    """The dotted path ending in `name` as the source writes it near the reported position."""
    lines = source.splitlines() or [""]
    text = lines[(line or 1) - 1] if (line or 1) <= len(lines) else lines[-1]
    found = text.find(name, max((column or 1) - 1, 0))
    if found < 0:
        return name
    return (_PATH_CHARS.search(text[:found]).group() if found else "") + name  # type: ignore[union-attr]


def _type_words(name: str) -> str:
    if name.startswith("list("):
        return "a list"
    if name.startswith("map("):
        return "a map"
    return _TYPES.get(name, name.rsplit(".", 1)[-1])


def explain(message: str, source: str, line: int | None, column: int | None, schema: Mapping[str, Any]) -> str:
    """A CEL compile error said for the rule's author (unchanged when it is not one of the kinds known here)."""
    if found := _UNDEFINED_FIELD.search(message):
        name, struct = found.groups()
        fields = list(schema.get("$defs", {}).get(struct, {}).get("properties", {}))
        return f"{_written(source, line, column, name)}: no such field{_nearest(name, fields)}"
    if found := _UNDECLARED.search(message):
        name = found.group(1)
        return f"{name}: not a name a rule can read{_nearest(name, list(schema.get('properties', {})))}"
    if found := _OVERLOAD.search(message):
        operator, arguments = found.groups()
        kinds = [a.strip() for a in arguments.split(",")]
        verb = _VERBS.get(operator)
        if verb and len(kinds) == 2:
            said = f"{verb} {_type_words(kinds[0])} with {_type_words(kinds[1])}"
            if set(kinds) == {"int", "double"}:
                return f"{said}: amounts and counts are integers, so write 5000000, not 5000000.0"
            return f"{said}, which a rule cannot do"
    return message
