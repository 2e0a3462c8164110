"""The upload page in a real headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser).

A person's path: open the page, choose an image, see its preview, submit, read
the predicted class and confidence. Playwright only drives the browser; its own
browser builds are never installed.
"""

from __future__ import annotations

import shutil
import sqlite3
from pathlib import Path

import pytest

from gourmetgram import names
from gourmetgram.paths import REPO_ROOT
from tests.e2e.app.conftest import E2E_ENV
from tests.support.app_server import start_app

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


def _guarded_page(browser, url: str):
    """A page of a fresh context, then the check that it loaded nothing from outside url."""
    context = browser.new_context()
    # Loopback only: any request elsewhere (a CDN, a font service) is refused and recorded.
    outside: list[str] = []

    def guard(route):
        if route.request.url.startswith(url):
            route.continue_()
        else:
            outside.append(route.request.url)
            route.abort()

    context.route("**/*", guard)
    yield context.new_page()
    context.close()
    assert outside == [], f"the page tried to load from outside the app: {outside}"


@pytest.fixture
def page(browser, app_server):
    yield from _guarded_page(browser, app_server.url)


@pytest.fixture(scope="module")
def capture_server(app_tmp, tiny_model_dir, version_file):
    """An app with capture on (GG_CAPTURE_DIR), as the local platform runs it; yields (server, capture dir)."""
    capture_dir = app_tmp / "capture-chromium"
    server = start_app(
        app_tmp,
        tiny_model_dir,
        version_file,
        **{**E2E_ENV, "GG_ENVIRONMENT": names.STAGING},
        GG_CAPTURE_DIR=str(capture_dir),
        GG_CAPTURE_SAMPLE_RATE="0",
        GG_CAPTURE_LOW_CONFIDENCE="0",
    )
    yield server, capture_dir
    server.stop()


@pytest.fixture
def capture_page(browser, capture_server):
    yield from _guarded_page(browser, capture_server[0].url)


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


def _upload(page, url: str, image: Path) -> str:
    page.goto(url + "/")
    page.set_input_files("#file", str(image))
    page.click("#submit")
    label = page.wait_for_selector("#result .prediction .class-name", timeout=30_000)
    return label.inner_text()


def test_upload_flag_and_correct_is_recorded_with_version_and_environment(
    capture_page, capture_server, tmp_path, test_version
):
    server, capture_dir = capture_server
    image = tmp_path / "dinner.jpg"
    shutil.copy(APP_DIR / "static" / "test.jpg", image)
    predicted = _upload(capture_page, server.url, image)
    pid = capture_page.get_attribute("#result .prediction", "data-prediction-id")
    right_class = next(c for c in names.CLASSES if c != predicted)
    capture_page.select_option("#result form.feedback select[name=true_class]", right_class)
    capture_page.click("#result form.feedback .feedback-wrong")
    done = capture_page.wait_for_selector("#result .feedback-done", timeout=30_000)
    assert f"recorded as {right_class}" in done.inner_text()
    assert capture_page.query_selector("#result form.feedback") is None  # the answer replaced the form

    # A second photo, confirmed right with the other button.
    predicted2 = _upload(capture_page, server.url, image)
    pid2 = capture_page.get_attribute("#result .prediction", "data-prediction-id")
    capture_page.click("#result form.feedback .feedback-right")
    capture_page.wait_for_selector("#result .feedback-done[data-outcome=right]", timeout=30_000)

    db = sqlite3.connect(capture_dir / "capture.sqlite")
    rows = {
        r[0]: r[1:]
        for r in db.execute(
            "SELECT id, environment, model_version, class_name, label, image_path FROM predictions WHERE id IN (?, ?)",
            (pid, pid2),
        )
    }
    db.close()
    assert rows[pid][:4] == (names.STAGING, test_version, predicted, right_class)
    assert rows[pid2][:4] == (names.STAGING, test_version, predicted2, predicted2)
    assert (capture_dir / rows[pid][4]).read_bytes() == image.read_bytes()  # the corrected image is kept
