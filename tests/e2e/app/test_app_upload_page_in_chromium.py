"""The upload page in a real headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser).

A person's path: open the page, choose an image, see its preview, submit, read
the predicted class and confidence. Playwright only drives the browser; its own
browser builds are never installed.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
APP_DIR = REPO_ROOT / "app"


@pytest.fixture(scope="module")
def browser():
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: ./lab setup installs Debian's chromium (APT_PACKAGES)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, app_server):
    context = browser.new_context()
    # Loopback only: any request elsewhere (a CDN, a font service) is refused and recorded.
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(app_server.url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    page = context.new_page()
    yield page
    context.close()
    assert outside == [], f"the page tried to load from outside the app: {outside}"


def test_choose_an_image_submit_and_see_a_class_name(page, app_server, tmp_path, test_version):
    image = tmp_path / "dinner.jpg"
    shutil.copy(APP_DIR / "static" / "test.jpg", image)
    page.goto(app_server.url + "/")
    assert page.title() == "GourmetGram"
    assert page.inner_text("#model-version") == test_version

    page.set_input_files("#file", str(image))
    page.wait_for_selector("#preview:not([hidden])")
    assert page.get_attribute("#preview", "src").startswith("blob:")

    page.click("#submit")
    label = page.wait_for_selector("#result .prediction .class-name", timeout=30_000)
    assert label.inner_text() in names.CLASSES
    assert "% confidence" in page.inner_text("#result .prediction .confidence")


def test_a_non_image_shows_the_error_on_the_page(page, app_server, tmp_path):
    notes = tmp_path / "notes.jpg"
    notes.write_text("shopping list: eggs, rice, bread\n")
    page.goto(app_server.url + "/")
    page.set_input_files("#file", str(notes))
    page.click("#submit")
    error = page.wait_for_selector("#result .error", timeout=30_000)
    assert "cannot classify" in error.inner_text()
