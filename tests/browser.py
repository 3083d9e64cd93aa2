"""Fixtures of the browser tests: Debian's Chromium, driven by Playwright, against a real server of the app."""

import os
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from app.db import Database
from tests.conftest import ROOT, Workplace, _free_port, migrated_database, seed_workplace, start_server, stop_server

# The system's browser: Playwright's own download is impossible here, so it drives the one apt installs.
CHROMIUM = Path(os.environ.get("DEALGATE_CHROMIUM", "/usr/bin/chromium"))
# Without the background-networking flags Chromium's own connections (updates, sync) are refused by the
# closed network; the sandbox needs privileges a container's root lacks.
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync"]
SCREENS = ROOT / "docs" / "screens"  # the README shows the screenshots the tests take
FAILED = pytest.StashKey[bool]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """Note on the test whether its body failed, for the `page` fixture to keep a screenshot."""
    report = yield
    if report.when == "call":
        item.stash[FAILED] = report.failed
    return report


@dataclass(frozen=True)
class Live(Workplace):
    """A server of the app on a fresh database holding the test workspace: its base URL and everyone's keys."""

    url: str


@pytest.fixture(scope="session")
def chromium() -> Iterator[Browser]:
    """Headless Chromium for the whole session; the browser tests skip without it, and fail without it in CI."""
    if not CHROMIUM.is_file():
        message = f"no Chromium at {CHROMIUM}: apt-get install chromium to run the browser tests"
        if os.environ.get("CI"):
            pytest.fail(f"{message} (CI must run them: .ci/run installs it)")
        pytest.skip(message)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True, args=FLAGS)
        yield browser
        browser.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    """uvicorn serving the app on 127.0.0.1 against a fresh, migrated SQLite database with the test workspace."""
    with migrated_database("sqlite", tmp_path) as url:
        database = Database(url)
        try:
            workplace = seed_workplace(database)
        finally:
            database.dispose()
        port = _free_port()
        process = start_server(url, port)
        try:
            yield Live(workplace.workspace_id, workplace.keys, f"http://127.0.0.1:{port}")
        finally:
            stop_server(process)


@pytest.fixture
def page(chromium: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    """A page in a new browser context of 1280×800; when the test fails, its last state is saved under tmp_path."""
    context = chromium.new_context(viewport={"width": 1280, "height": 800})
    opened = context.new_page()
    try:
        yield opened
        if request.node.stash.get(FAILED, False):
            opened.screenshot(path=tmp_path / "failure.png", full_page=True)
    finally:
        context.close()


def screenshot(page: Page, name: str) -> Path:
    """Save what the page shows as docs/screens/<name>.png, the picture the README shows."""
    SCREENS.mkdir(parents=True, exist_ok=True)
    path = SCREENS / f"{name}.png"
    page.screenshot(path=path)
    return path
