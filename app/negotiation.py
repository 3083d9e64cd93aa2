"""Content negotiation (RFC 9110): the form an answer takes, chosen by the request's Accept header."""

import re
from collections.abc import Sequence
from typing import Annotated, Any

from fastapi import Header, Response

from app.errors import NotAcceptable

# Left out of the parameters: OpenAPI ignores a header parameter named Accept; the responses' media types say it.
AcceptHeader = Annotated[str | None, Header(include_in_schema=False)]
_QUALITY = re.compile(r"^(0(\.\d{0,3})?|1(\.0{0,3})?)$")


def _ranges(accept: str) -> list[tuple[str, float]]:
    """Each media range of an Accept header with its quality (an unreadable quality counts as 0)."""
    ranges = []
    for part in accept.split(","):
        media_range, *parameters = (p.strip() for p in part.split(";"))
        quality = 1.0
        for parameter in parameters:
            name, _, value = parameter.partition("=")
            if name.strip().lower() == "q":
                quality = float(value) if _QUALITY.match(value.strip()) else 0.0
        if media_range:
            ranges.append((media_range.lower(), quality))
    return ranges


def _quality(media_type: str, ranges: list[tuple[str, float]]) -> float:
    """The quality the most specific matching range gives a media type; 0 when none matches."""
    kinds = {media_type: 3, media_type.split("/")[0] + "/*": 2, "*/*": 1}
    matching = [(kinds[media_range], quality) for media_range, quality in ranges if media_range in kinds]
    return max(matching, key=lambda match: match[0])[1] if matching else 0.0


def negotiate(accept: str | None, offered: Sequence[str]) -> str:
    """The offered media type Accept ranks highest (ties and a missing Accept: the first); 406 if it takes none."""
    if accept is None or not accept.strip():
        return offered[0]
    ranges = _ranges(accept)
    quality = {media_type: _quality(media_type, ranges) for media_type in offered}
    chosen = max(offered, key=quality.__getitem__)
    if quality[chosen] <= 0:
        raise NotAcceptable("This resource comes as " + ", ".join(offered) + "; Accept names none of them.",
                            allowed=list(offered))
    return chosen


def answer(text: str, media_type: str) -> Response:
    """A negotiated answer: the text in the chosen form, marked as varying with Accept."""
    return Response(text, media_type=media_type, headers={"Vary": "Accept"})


def forms(description: str, offered: Sequence[str]) -> dict[int | str, dict[str, Any]]:
    """The OpenAPI entry of a 200 answer that comes in each offered media type, as text."""
    return {200: {"description": description, "content": {m: {"schema": {"type": "string"}} for m in offered}}}
