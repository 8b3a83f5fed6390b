"""A real headless Chromium (Debian's `chromium`, installed by deploy/setup.sh) driven by Playwright's
Python API; Playwright's own browser downloads are never used. Every page records its console
errors, uncaught exceptions and dialogs, so a test can say none happened."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"


@dataclass
class Watched:
    page: object
    console_errors: list[str] = field(default_factory=list)
    page_errors: list[str] = field(default_factory=list)
    dialogs: list[str] = field(default_factory=list)

    @property
    def clean(self) -> bool:
        return not (self.console_errors or self.page_errors or self.dialogs)


# Module-scoped: Playwright's sync API runs an event loop in this thread while it is started, which
# would break every later test that calls asyncio.run().
@pytest.fixture(scope="module")
def chromium():
    if not shutil.which(CHROMIUM):
        pytest.fail(f"no Chromium at {CHROMIUM}: run deploy/setup.sh (it installs Debian's chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        # The sandbox needs user namespaces, which a root CI container does not give.
        browser = p.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox"])
        yield browser
        browser.close()


@pytest.fixture
def open_page(chromium):
    contexts = []

    def open_(url: str) -> Watched:
        context = chromium.new_context(viewport={"width": 1400, "height": 900})
        contexts.append(context)
        page = context.new_page()
        watched = Watched(page)
        page.on("console", lambda m: m.type == "error" and watched.console_errors.append(m.text))
        page.on("pageerror", lambda e: watched.page_errors.append(str(e)))

        def dialog(d):
            watched.dialogs.append(d.message)
            d.dismiss()

        page.on("dialog", dialog)
        page.goto(url)
        return watched

    yield open_
    for context in contexts:
        context.close()
