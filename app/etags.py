"""Entity tags from row versions, and the If-Match precondition."""

from app.errors import PreconditionFailed


def etag(version: int) -> str:
    """The strong entity tag of a row version."""
    return f'"{version}"'


def check_if_match(version: int, if_match: str | None) -> None:
    """Refuse the write when If-Match names no current version (RFC 9110, strong comparison)."""
    if if_match is None:
        return
    current = etag(version)
    tags = [t.strip() for t in if_match.split(",")]
    if "*" in tags or current in tags:
        return
    raise PreconditionFailed(f"If-Match {if_match} does not match the current version {current}; "
                             "read the resource again and retry.", current_etag=current)
