"""Who is signed in to the console: the API key in a cookie, recognised by the API's own authentication.

The cookie holds the key itself (HttpOnly, SameSite=Strict, Path=/console, Secure over https), so there is no
session table and no server secret: every request authenticates the key exactly as an API request does
(app.identity.auth.get_caller, its cache included), and a revoked key stops working as it does in the API.
Every form that changes something carries a token derived from the key (an HMAC of a fixed label under the key):
a page of another site can neither read the cookie nor compute the token.
"""

import hashlib
import hmac
from typing import Annotated
from urllib.parse import parse_qsl, urlencode

from fastapi import Depends, Request, Response
from fastapi.security import HTTPAuthorizationCredentials
from starlette.datastructures import ImmutableMultiDict

from app.caller import Caller
from app.db import SAFE_METHODS
from app.errors import Unauthorized
from app.identity.auth import get_caller

COOKIE = "dealgate_console"
COOKIE_PATH = "/console"
CSRF_FIELD = "csrf"
MAX_FIELDS = 2_000  # form fields read at most (the request guard bounds the body's bytes)
_CSRF_LABEL = b"dealgate console form"


class SignInRequired(Exception):
    """The visitor has no working key: send them to the sign-in page (`why` says what to tell them)."""

    def __init__(self, why: str | None = None) -> None:
        super().__init__(why or "sign in")
        self.why = why


class CsrfRefused(Exception):
    """A form arrived without the token of the key it was sent with: refused, nothing changed."""


def csrf_token(key: str) -> str:
    """The form token of a key: what a form posted with this key's cookie must carry."""
    return hmac.new(key.encode(), _CSRF_LABEL, hashlib.sha256).hexdigest()


def signed_in_key(request: Request) -> str | None:
    """The API key the request's console cookie holds, if any."""
    return request.cookies.get(COOKIE) or None


def sign_in_url(next_path: str | None = None, why: str | None = None) -> str:
    """The sign-in page, saying why and where to return to afterwards."""
    query = {name: value for name, value in (("next", next_path), ("why", why)) if value}
    return f"{COOKIE_PATH}/sign-in" + (f"?{urlencode(query)}" if query else "")


def safe_next(path: str | None) -> str:
    """Where to go after signing in: a console page, never another site."""
    if path and path.startswith(COOKIE_PATH + "/") and not path.startswith("//") and "\\" not in path:
        return path
    return COOKIE_PATH


def remember_key(response: Response, request: Request, key: str) -> None:
    """Set the console cookie to the key (for this browser session)."""
    response.set_cookie(COOKIE, key, path=COOKIE_PATH, httponly=True, samesite="strict",
                        secure=request.url.scheme == "https")


def forget_key(response: Response, request: Request) -> None:
    """Clear the console cookie."""
    response.delete_cookie(COOKIE, path=COOKIE_PATH, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")


async def authenticate(request: Request, key: str) -> Caller:
    """The caller a key stands for, by the API's own authentication; Unauthorized when it is unknown or revoked."""
    return await get_caller(request, HTTPAuthorizationCredentials(scheme="Bearer", credentials=key.strip()))


async def console_caller(request: Request) -> Caller:
    """The signed-in caller; SignInRequired when there is no cookie or its key no longer works."""
    key = signed_in_key(request)
    if key is None:
        raise SignInRequired()
    try:
        return await authenticate(request, key)
    except Unauthorized:
        raise SignInRequired("expired") from None


def form_fields(body: bytes) -> ImmutableMultiDict[str, str]:
    """The fields of a posted HTML form (urlencoded); none when the body is not one."""
    try:
        return ImmutableMultiDict(parse_qsl(body.decode("utf-8"), keep_blank_values=True, max_num_fields=MAX_FIELDS))
    except (UnicodeDecodeError, ValueError):
        return ImmutableMultiDict()


async def console_form(request: Request, caller: Annotated[Caller, Depends(console_caller)]
                       ) -> ImmutableMultiDict[str, str]:
    """The fields of a posted form, once its token is checked against the signed-in key (CsrfRefused if not)."""
    fields = form_fields(await request.body())
    key = signed_in_key(request)
    if request.method in SAFE_METHODS or key is None or not hmac.compare_digest(
            fields.get(CSRF_FIELD, "").encode(), csrf_token(key).encode()):
        raise CsrfRefused()
    return fields


ConsoleCaller = Annotated[Caller, Depends(console_caller)]
ConsoleForm = Annotated[ImmutableMultiDict[str, str], Depends(console_form)]
