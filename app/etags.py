"""Entity tags from a row's id and version, and the If-Match precondition."""

from typing import Annotated, Any

from fastapi import Header, Response
from pydantic import BaseModel

from app.errors import PreconditionFailed, PreconditionRequired


# "*" or entity tags separated by commas (RFC 9110); a weak one (W/"...") never matches a strong comparison: 412.
ENTITY_TAGS = r'^(\*|(W/)?"[\x21\x23-\x7e]*"( *, *(W/)?"[\x21\x23-\x7e]*")*)$'
IfMatch = Annotated[str | None, Header(pattern=ENTITY_TAGS, description=(
    'The ETag of a read, as `"<version>.<id>"` (or several, separated by commas, or `*`); 412 if it is stale.'))]


def etag(row: Any) -> str:
    """The strong entity tag of a row: its version, and its id (a recreated record never matches)."""
    return f'"{row.version}.{row.id.hex}"'


def check_if_match(row: Any, if_match: str | None, *, required: bool = False) -> None:
    """Refuse the write when If-Match names no current version (RFC 9110, strong comparison), or is missing
    where the workspace requires it."""
    if if_match is None:
        if required:
            raise PreconditionRequired("This workspace requires If-Match on every change to a deal: read the "
                                       "resource, then send its ETag as If-Match.", current_etag=etag(row))
        return
    current = etag(row)
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"If-Match {if_match} does not match the current version {current}; "
                             "read the resource again and retry.", current_etag=current)


def tagged(shape: type[BaseModel], row: Any, status_code: int = 200, **headers: str) -> Response:
    """A row as JSON in its API shape with its ETag, serialised once (no second validation)."""
    return Response(shape.model_validate(row).model_dump_json(), status_code=status_code,
                    media_type="application/json", headers={"ETag": etag(row), **headers})
