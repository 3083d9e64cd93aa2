"""Process versions as YAML files, and the small HTTP client the command line uses to apply them."""

import difflib
import json
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import yaml

from app.engine.spec import ProcessSpec


class _Dumper(yaml.SafeDumper):
    """Writes repeated requirements in full rather than as YAML anchors."""

    def ignore_aliases(self, data: Any) -> bool:
        return True


def to_yaml(document: dict[str, Any]) -> str:
    """A process (key and content) as YAML, in a stable order."""
    return yaml.dump(document, Dumper=_Dumper, sort_keys=False, allow_unicode=True, width=110)


def as_file(key: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The file form of a version: its key first, then its content, without the fields left unset."""
    return {"key": key, **ProcessSpec.model_validate(spec).model_dump(mode="json", exclude_none=True)}


def difference(old: str, new: str, old_name: str, new_name: str) -> str:
    """A unified diff of two YAML texts ('' when equal)."""
    return "".join(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                        fromfile=old_name, tofile=new_name))


class ProcessFile:
    """A process file as read: its document, and where each part of it stands in the file."""

    def __init__(self, path: Path) -> None:
        self.path, text = path, path.read_text(encoding="utf-8")
        self._lines = text.splitlines()
        try:
            self.document, self._root = yaml.safe_load(text), yaml.compose(text)
        except yaml.YAMLError as broken:
            mark = getattr(broken, "problem_mark", None) or getattr(broken, "context_mark", None)
            what = getattr(broken, "problem", None) or broken
            if "expected <block end>" in str(what):
                what = f"{what} (this line is not indented as the lines above it are)"
            where = f"{path}:{mark.line + 1}:{mark.column + 1}" if mark else str(path)
            raise ValueError(f"{where}: not valid YAML: {what}") from None

    def locate(self, pointer: str, line: int | None = None, column: int | None = None) -> str | None:
        """`file:line:column` of the part a JSON pointer names (of the position in a rule, given one)."""
        node = self._root
        for part in [p for p in pointer.split("/") if p]:
            if isinstance(node, yaml.MappingNode):
                child = next((value for key, value in node.value if key.value == part), None)
            elif isinstance(node, yaml.SequenceNode) and part.isdigit() and int(part) < len(node.value):
                child = node.value[int(part)]
            else:
                child = None
            if child is None:
                break
            node = child
        if node is None:
            return None
        row, col = node.start_mark.line + 1, node.start_mark.column + 1
        if line and isinstance(node, yaml.ScalarNode):
            if node.style in ("|", ">"):  # the text starts on the next line, indented
                row += line
                text = self._lines[row - 1] if row <= len(self._lines) else ""
                col = len(text) - len(text.lstrip()) + (column or 1)
            elif line == 1:
                col += (1 if node.style in ("'", '"') else 0) + (column or 1) - 1
            else:
                row, col = row + line - 1, column or 1
        return f"{self.path}:{row}:{col}"


class ApiError(Exception):
    """A problem+json answer from the API."""

    def __init__(self, status: int, problem: dict[str, Any]) -> None:
        super().__init__(problem.get("detail") or f"HTTP {status}")
        self.status = status
        self.problem = problem


class Api:
    """JSON over HTTP with an API key."""

    def __init__(self, url: str, key: str) -> None:
        self.url = url.rstrip("/")
        self.key = key
        self.etag: str | None = None  # of the last answer that had one

    def call(self, method: str, path: str, body: Any = None, if_match: str | None = None) -> Any:
        """Send a request; the decoded answer, or ApiError."""
        headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json",
                   "Accept": "application/json", **({"If-Match": if_match} if if_match else {})}
        request = urllib.request.Request(self.url + path, method=method, headers=headers,
                                         data=None if body is None else json.dumps(body).encode())
        try:
            with urllib.request.urlopen(request, timeout=600) as response:
                self.etag = response.headers.get("ETag")
                return json.loads(response.read() or b"null")
        except urllib.error.HTTPError as error:
            try:
                problem = json.loads(error.read())
            except ValueError:
                problem = {"detail": f"HTTP {error.code}"}
            raise ApiError(error.code, problem) from None
