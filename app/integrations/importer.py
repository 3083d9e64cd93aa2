"""`dealgate import`: a CRM's export (CSV with its own column names, or NDJSON of our schema) sent through the
batch upsert API, so that it runs against a remote server and a second run updates what the first created."""

import csv
import io
import json
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

import httpx2
import yaml
from pydantic import BaseModel, Field, ValidationError

from app.external_ids import System
from app.integrations.schemas import MAX_BATCH, OpportunityItem, SystemMapWrite

RETRIES = 5  # tries of one batch on a network failure, a 5xx, a 409 (the same batch still running) or a 429
IN_FLIGHT = 2  # batches sent at a time


class ImportFailed(Exception):
    """A file or mapping the import cannot read, said in one message with where it is."""


class ImportMapping(BaseModel):
    """The mapping file: which column holds each field, and the system's owner and stage maps."""

    system: System
    format: str = Field("csv", pattern="^(csv|ndjson)$")
    encoding: str = "utf-8"
    delimiter: str | None = Field(None, min_length=1, max_length=1, description="Sniffed from , ; tab | if unset.")
    date_format: str | None = Field(None, description="strptime format of dates, such as %m/%d/%Y (else ISO).")
    minor_units: int = Field(100, ge=1, description="Minor units in one unit of the amounts' currency.")
    columns: dict[str, str] = {}
    defaults: dict[str, str] = {}
    owners: dict[str, str] | None = None
    default_owner: str | None = None
    stages: dict[str, str] | None = None


FIELDS = ("external_id", "name", "owner", "stage", "expected_close_date", "value.amount", "value.currency",
          "account.external_id", "account.name", "account.industry", "stakeholder.external_id", "stakeholder.name",
          "stakeholder.role", "stakeholder.title", "override")


def read_mapping(path: Path) -> ImportMapping:
    """The mapping file, checked."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
        mapping = ImportMapping.model_validate(document)
    except (OSError, UnicodeDecodeError) as error:
        raise ImportFailed(f"{path}: cannot read it ({error}).") from None
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ImportFailed(f"{path}: not valid YAML{where}.") from None
    except ValidationError as error:
        first = error.errors()[0]
        raise ImportFailed(f"{path}: {'.'.join(map(str, first['loc']))}: {first['msg']}.") from None
    unknown = sorted(set(mapping.columns) - set(FIELDS))
    if unknown:
        raise ImportFailed(f"{path}: no field {', '.join(unknown)}; the fields are {', '.join(FIELDS)}.")
    if mapping.format == "csv" and not {"external_id", "name"} <= set(mapping.columns):
        raise ImportFailed(f"{path}: columns must name at least external_id and name.")
    return mapping


def _text(path: Path, encoding: str) -> str:
    """The file's text; a byte the encoding cannot read is reported with its line."""
    data = path.read_bytes()
    try:
        return data.decode("utf-8-sig" if encoding.lower().replace("_", "-") in ("utf-8", "utf8") else encoding)
    except UnicodeDecodeError as error:
        line = data[:error.start].count(b"\n") + 1
        raise ImportFailed(f"{path}, line {line}: not valid {encoding} (byte {data[error.start]:#04x}); set "
                           "encoding: in the mapping file, such as cp1252 or latin-1.") from None
    except LookupError:
        raise ImportFailed(f"Unknown encoding {encoding!r} in the mapping file.") from None


def _amount(text: str, minor_units: int) -> int:
    """An amount as a CRM writes it (1,250,000.50 or 1250000.5) in minor units."""
    cleaned = text.replace(",", "").replace(" ", "").replace("\u00a0", "")
    try:
        number = Decimal(cleaned)
    except InvalidOperation:
        raise ValueError(f"value.amount: {text!r} is not a number") from None
    if not number.is_finite() or number.adjusted() > 15:  # checked before scaling: a huge exponent takes minutes
        raise ValueError(f"value.amount: {text[:40]!r} is not an amount")
    return int((number * minor_units).to_integral_value())


def _date(text: str, date_format: str | None) -> str:
    try:
        if date_format:
            return datetime.strptime(text, date_format).date().isoformat()
        return datetime.fromisoformat(text[:10]).date().isoformat()
    except ValueError:
        raise ValueError(f"expected_close_date: {text!r} is not a date"
                         + (f" in the form {date_format}" if date_format else " (YYYY-MM-DD)")) from None


def _slug(text: str) -> str:
    return "_".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


def _item(values: dict[str, str], mapping: ImportMapping) -> dict[str, Any]:
    """One deal as the batch upsert takes it, from a row's fields: empty cells left out, line breaks and runs of
    spaces inside a cell made one space (every field it fills is one line)."""
    cells = {**mapping.defaults, **{k: v for k, v in values.items() if v and v.strip()}}
    get = {k: " ".join(v.split()) for k, v in cells.items() if v and v.strip()}
    item: dict[str, Any] = {name: get[name] for name in ("external_id", "name", "owner", "stage", "override")
                            if name in get}
    if "expected_close_date" in get:
        item["expected_close_date"] = _date(get["expected_close_date"], mapping.date_format)
    if "value.amount" in get:
        item["value"] = {"amount": _amount(get["value.amount"], mapping.minor_units),
                         "currency": get.get("value.currency", "")}
    if "account.name" in get:
        item["account"] = {"name": get["account.name"]} | (
            {"external_id": get["account.external_id"]} if "account.external_id" in get else {}) | (
            {"industry": _slug(get["account.industry"])} if "account.industry" in get else {})
    if "stakeholder.name" in get and "stakeholder.external_id" in get:
        item["stakeholders"] = [{"external_id": get["stakeholder.external_id"], "name": get["stakeholder.name"],
                                 "role": get.get("stakeholder.role", "influencer")}
                                | ({"title": get["stakeholder.title"]} if "stakeholder.title" in get else {})]
    return item


@dataclass
class Row:
    """One record of the file: its line, and the deal it holds or why it cannot be read."""

    line: int
    item: dict[str, Any] | None
    external_id: str
    problem: str | None = None


def _csv_rows(path: Path, mapping: ImportMapping) -> Iterator[Row]:
    text = _text(path, mapping.encoding)
    delimiter = mapping.delimiter
    if delimiter is None:
        header = text.split("\n", 1)[0]
        delimiter = max(",;\t|", key=header.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    try:
        header = [h.strip() for h in next(reader)]
    except StopIteration:
        raise ImportFailed(f"{path} is empty.") from None
    missing = sorted(column for column in mapping.columns.values() if column not in header)
    if missing:
        raise ImportFailed(f"{path}, line 1: no column {', '.join(repr(m) for m in missing)}; the columns are "
                           f"{', '.join(repr(h) for h in header)} (delimiter {delimiter!r}).")
    index = {name: header.index(column) for name, column in mapping.columns.items()}
    line = reader.line_num + 1
    for cells in reader:
        start, line = line, reader.line_num + 1  # a quoted newline makes a record span lines
        if not any(c.strip() for c in cells):
            continue
        values = {name: cells[i] if i < len(cells) else "" for name, i in index.items()}
        external_id = values.get("external_id", "").strip()
        try:
            yield Row(start, _item(values, mapping), external_id)
        except ValueError as error:
            yield Row(start, None, external_id, str(error))


def _ndjson_rows(path: Path, mapping: ImportMapping) -> Iterator[Row]:
    for number, text in enumerate(_text(path, mapping.encoding).splitlines(), start=1):
        if not text.strip():
            continue
        try:
            item = json.loads(text)
            if not isinstance(item, dict):
                raise ValueError("not an object")
            yield Row(number, item, str(item.get("external_id", "")))
        except ValueError as error:
            yield Row(number, None, "", f"not a JSON object: {error}")


def rows(path: Path, mapping: ImportMapping) -> Iterator[Row]:
    """Every record of the file, checked against the upsert's schema here (a refused row costs no request)."""
    read = _csv_rows if mapping.format == "csv" else _ndjson_rows
    for row in read(path, mapping):
        if row.item is not None:
            try:
                OpportunityItem.model_validate(row.item)
            except ValidationError as error:
                row.problem = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in error.errors())
                row.item = None
        yield row


@dataclass
class Summary:
    """What the import did."""

    created: int = 0
    updated: int = 0
    held_at_gate: int = 0
    refused: int = 0
    rejects: list[dict[str, Any]] = field(default_factory=list)

    def reject(self, row: Row, status: int | str, reason: str) -> None:
        """Count a refused row and keep why."""
        self.refused += 1
        self.rejects.append({"line": row.line, "external_id": row.external_id, "status": status, "reason": reason})

    def add(self, other: "Summary") -> None:
        """Count in what another part of the import did."""
        self.created += other.created
        self.updated += other.updated
        self.held_at_gate += other.held_at_gate
        self.refused += other.refused
        self.rejects += other.rejects


class Client:
    """The API, over one kept-alive connection; `run` names this run in its Idempotency-Keys, so a retried
    batch has one effect while a second run of the import upserts afresh."""

    def __init__(self, url: str, key: str, transport: httpx2.BaseTransport | None = None) -> None:
        self.run = uuid.uuid4().hex
        self.http = httpx2.Client(base_url=url.rstrip("/"), headers={"Authorization": f"Bearer {key}"},
                                  transport=transport, timeout=120)

    def call(self, method: str, path: str, body: Any = None, **headers: str) -> httpx2.Response:
        """One request, retried with backoff while the failure is one a retry can mend."""
        for attempt in range(RETRIES):
            try:
                response = self.http.request(method, path, json=body, headers=headers)
                if response.status_code not in (409, 429, 502, 503, 504) or attempt == RETRIES - 1:
                    return response
            except httpx2.TransportError:
                if attempt == RETRIES - 1:
                    raise
            time.sleep(min(2 ** attempt * 0.5, 8))
        raise AssertionError("unreachable")


def _problem(response: httpx2.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:300]
    errors = "; ".join(f"{e.get('pointer')}: {e.get('message')}" for e in body.get("errors", [])[:5])
    return body.get("detail", "") + (f" ({errors})" if errors else "")


def apply_maps(client: Client, mapping: ImportMapping) -> str | None:
    """Store the mapping file's owner and stage maps on the server when they differ; what changed, if anything."""
    if mapping.owners is None and mapping.stages is None and mapping.default_owner is None:
        return None
    current = client.call("GET", f"/v1/integrations/{mapping.system}")
    stored = current.json() if current.status_code == 200 else {}
    wanted = SystemMapWrite(owners=mapping.owners or {}, stages=mapping.stages or {},
                            default_owner=mapping.default_owner).model_dump()
    if all(stored.get(k) == v for k, v in wanted.items()):
        return None
    answer = client.call("PUT", f"/v1/integrations/{mapping.system}", wanted,
                         **({"If-Match": current.headers["etag"]} if current.status_code == 200 else {}))
    if answer.status_code >= 400:
        raise ImportFailed(f"The {mapping.system} maps could not be stored ({answer.status_code}): "
                           f"{_problem(answer)} (ops or an administrator sets them).")
    return f"Stored the {mapping.system} owner and stage maps."


def send(client: Client, system: str, batch: list[Row]) -> Summary:
    """One batch through the batch upsert: what became of each of its rows."""
    summary = Summary()
    items = [row.item for row in batch]  # a batch is named by this run and the line it starts at
    response = client.call("POST", f"/v1/opportunities/external/{system}", {"items": items},
                           **{"Idempotency-Key": f"import-{client.run}-{batch[0].line}"})
    if response.status_code != 200:
        for row in batch:
            summary.reject(row, response.status_code, _problem(response))
        return summary
    for row, result in zip(batch, response.json()["results"], strict=True):
        if result["status"] >= 400:
            problem = result["problem"]
            errors = "; ".join(f"{e.get('pointer')}: {e.get('message')}" for e in problem.get("errors", [])[:5])
            summary.reject(row, result["status"], problem["detail"] + (f" ({errors})" if errors else ""))
            continue
        summary.created += result["status"] == 201
        summary.updated += result["status"] == 200
        summary.held_at_gate += bool(result.get("stage_sync") and not result["stage_sync"]["reached"])
    return summary


def run(path: Path, mapping: ImportMapping, client: Client, progress: Callable[[int], None],
        batch_size: int = MAX_BATCH) -> Summary:
    """Import every row of the file in batches, IN_FLIGHT of them sent at a time (the next is read while the
    server stores the last), calling progress with the rows done after each."""
    summary, batch = Summary(), []
    waiting: deque[tuple[int, Future[Summary]]] = deque()

    def settle(until: int) -> None:
        while len(waiting) > until:
            size, done = waiting.popleft()
            summary.add(done.result())
            progress(size)

    with ThreadPoolExecutor(IN_FLIGHT) as pool:
        for row in rows(path, mapping):
            if row.item is None:
                summary.reject(row, "unreadable", row.problem or "")
                progress(1)
                continue
            batch.append(row)
            if len(batch) == batch_size:
                waiting.append((len(batch), pool.submit(send, client, mapping.system, batch)))
                batch = []
                settle(IN_FLIGHT - 1)
        if batch:
            waiting.append((len(batch), pool.submit(send, client, mapping.system, batch)))
        settle(0)
    summary.rejects.sort(key=lambda reject: reject["line"])
    return summary


def count_records(path: Path, mapping: ImportMapping) -> int:
    """How many records the file holds (for the progress bar)."""
    return sum(1 for _ in (_csv_rows if mapping.format == "csv" else _ndjson_rows)(path, mapping))


def write_rejects(path: Path, summary: Summary) -> None:
    """The refused rows, each with its line and reason, as CSV."""
    with path.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, ["line", "external_id", "status", "reason"])
        writer.writeheader()
        writer.writerows(summary.rejects)
