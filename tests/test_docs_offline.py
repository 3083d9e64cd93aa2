"""The interactive docs load everything from the app itself: they work on a machine with no internet."""

import re

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

# The content type each kind of file the docs pages load must be served with.
CONTENT_TYPES = {".js": ("text/javascript", "application/javascript"), ".css": ("text/css",),
                 ".png": ("image/png",), ".json": ("application/json",)}
# Where a docs page names a URL: script and link tags, ReDoc's spec-url, Swagger UI's `url: '...'`.
URL_IN_PAGE = re.compile(r"""(?:\b(?:src|href|spec-url)="([^"]*)"|\burl: '([^']*)')""")


def _referenced(html: str) -> list[str]:
    """Every URL the page makes the browser load."""
    return [quoted or single for quoted, single in URL_IN_PAGE.findall(html)]


@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_load_only_files_the_app_serves_without_a_key(app: FastAPI, page: str) -> None:
    with TestClient(app) as anyone:  # the docs are public, as the OpenAPI document is
        answer = anyone.get(page)
        assert answer.status_code == 200 and answer.headers["content-type"].startswith("text/html")
        assert not re.search(r"https?://|(?:src|href)=\"//", answer.text), answer.text  # no CDN, no web font
        urls = _referenced(answer.text)
        assert any(url.endswith(".js") for url in urls) and "/openapi.json" in urls, urls
        for url in urls:
            assert url.startswith("/") and not url.startswith("//"), url
            asset = anyone.get(url)
            suffix = url[url.rindex("."):]
            assert asset.status_code == 200, (url, asset.status_code)
            assert asset.headers["content-type"].split(";")[0] in CONTENT_TYPES[suffix], (url, asset.headers)
            assert len(asset.content) > 1000, url


def test_swagger_ui_and_redoc_scripts_are_the_real_bundles(client: TestClient) -> None:
    swagger = client.get("/static/docs/swagger-ui-bundle.js")
    redoc = client.get("/static/docs/redoc.standalone.js")
    assert "SwaggerUIBundle" in swagger.text and "Redoc" in redoc.text
    assert client.get("/static/docs/nothing-here.js").status_code == 404
