"""The report as a reader sees it: opened in headless Chromium, with no errors, no requests
beyond the page itself, every image drawn and every section with data present.

Chromium and its driver come from the Debian packages ``chromium`` and ``chromium-driver``
(``make browser`` installs both), driven by Selenium. Without them these tests skip, unless
``MIR_REF_REQUIRE_CHROMIUM=1`` (set by CI) makes that a failure.
Screenshots are kept next to the page, ``report/screenshot.png``, as test artifacts.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from mir_ref.cli import app
from mir_ref.experiment import Experiment
from mir_ref.report.build import write_report
from mir_ref.stages import run_all
from tests.browser import Browser, find_chromium, processes_using
from tests.report_run import ALL_SECTIONS, make_run_folder

if find_chromium() is None:
    if os.environ.get("MIR_REF_REQUIRE_CHROMIUM") == "1":
        raise RuntimeError("MIR_REF_REQUIRE_CHROMIUM=1 but Chromium or ChromeDriver is missing")
    pytest.skip("Chromium or ChromeDriver is missing (make browser)", allow_module_level=True)

IMAGES = "Array.from(document.images).map(image => [image.naturalWidth, image.naturalHeight])"
CAPTIONS = "Array.from(document.images).filter(image => image.naturalWidth > 0).map(i => i.alt)"
EMBEDDING_VIEWS = {
    "drift": "embedding drift, probe-free",
    "similarity": "linear CKA over",
    "maps": "one row per task",
    "layer weights": "Which layers each task uses",
}
"""A phrase of each embedding view's figure caption (the image's alt text)."""
SECTIONS = "Array.from(document.querySelectorAll('section')).map(section => section.id)"
AUDIO = "Array.from(document.querySelectorAll('audio')).map(audio => audio.src.slice(0, 22))"
# Each player's duration once its metadata is decoded (NaN if it never decodes).
DURATIONS = """Promise.all(Array.from(document.querySelectorAll('audio')).map(audio =>
  new Promise(done => {
    if (audio.readyState >= 1) { done(audio.duration); return; }
    audio.addEventListener('loadedmetadata', () => done(audio.duration));
    audio.addEventListener('error', () => done(-1));
    audio.load();
    setTimeout(() => done(-2), 5000);
  })))"""


def open_report(index: Path) -> dict:
    """Load ``index`` in Chromium; return what it saw, and save a full-page screenshot."""
    with Browser() as browser:
        report = browser.load(index.resolve().as_uri())
        seen = {
            "console_errors": report.console_errors,
            "failed_requests": report.failed_requests,
            "external_requests": [
                url for url in report.requests if not url.startswith(("data:", "file:"))
            ],
            "images": browser.evaluate(IMAGES),
            "decoded": browser.evaluate(CAPTIONS),
            "sections": browser.evaluate(SECTIONS),
            "audio": browser.evaluate(AUDIO),
            "durations": browser.evaluate(DURATIONS),
        }
        seen["screenshot_size"] = browser.screenshot(index.parent / "screenshot.png")
    return seen


def assert_clean_page(seen: dict) -> None:
    assert seen["console_errors"] == []
    assert seen["failed_requests"] == []
    assert seen["external_requests"] == []
    assert seen["images"] and all(width > 0 and height > 0 for width, height in seen["images"])


def test_the_harness_sees_console_errors_failed_requests_and_broken_images(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text('<!doctype html><img src="missing.png"><script>console.error("boom")</script>')
    with Browser() as browser:
        report = browser.load(page.as_uri())
        images = browser.evaluate(IMAGES)
    assert any("boom" in message for message in report.console_errors)
    assert report.failed_requests
    assert images == [[0, 0]]


def test_the_harness_sees_uncaught_exceptions_and_a_clean_page_as_clean(tmp_path):
    thrown = tmp_path / "thrown.html"
    thrown.write_text("<!doctype html><script>throw new Error('kaboom')</script>")
    clean = tmp_path / "clean.html"
    clean.write_text("<!doctype html><p>fine</p>")
    with Browser() as browser:
        assert any("kaboom" in message for message in browser.load(thrown.as_uri()).console_errors)
        # The first page's errors are not carried over to the next.
        report = browser.load(clean.as_uri())
    assert report.console_errors == [] and report.failed_requests == []


def test_no_browser_process_outlives_the_harness_when_a_test_fails(tmp_path):
    page = tmp_path / "page.html"
    page.write_text("<!doctype html><p>fine</p>")
    with pytest.raises(AssertionError), Browser() as browser:
        browser.load(page.as_uri())
        profile = browser.profile
        assert processes_using(profile)
        raise AssertionError("a failing check inside the browser block")
    assert processes_using(profile) == []
    assert not Path(profile).exists()


@pytest.mark.slow
def test_every_section_with_data_renders_cleanly(tmp_path):
    folder = make_run_folder(tmp_path / "run")
    index = write_report(folder)
    seen = open_report(index)
    assert_clean_page(seen)
    assert seen["sections"] == ALL_SECTIONS
    for view, phrase in EMBEDDING_VIEWS.items():
        assert any(phrase in caption for caption in seen["decoded"]), view
    page = index.read_text(encoding="utf-8")
    assert "95% CI" in page and "p (vs runner-up)" in page and "0.0040" in page  # p_holm
    # Two example tracks × four conditions, inlined.
    assert seen["audio"] == ["data:audio/wav;base64,"] * 8
    # Every clip decodes; the 8 s track is cut to 5 s, the 1 s track kept whole.
    assert sorted(seen["durations"]) == pytest.approx([1.0] * 4 + [5.0] * 4, abs=0.01)
    width, height = seen["screenshot_size"]
    assert (index.parent / "screenshot.png").stat().st_size > 10_000
    assert width == 1400 and height > 5000
    # Short 16 kHz clips and PNGs keep the page small enough to mail.
    assert index.stat().st_size < 8e6


@pytest.mark.slow
def test_a_small_run_reports_in_the_browser_and_again_without_the_cache(tmp_path):
    from tests.test_pipeline import small_config

    config = small_config(tmp_path, probes=[{"type": "linear"}, {"type": "mlp", "hidden": [32]}])
    experiment = Experiment.from_config(config)
    run_all(experiment)
    index = experiment.output_dir / "report" / "index.html"
    seen = open_report(index)
    assert_clean_page(seen)
    expected = ["overview", "robustness", "probe-size", "similarity", "maps", "pitch-key"]
    expected += ["per-class", "listening"]
    assert set(expected) <= set(seen["sections"])
    for view in ("drift", "similarity", "maps"):  # the run's views, from the cache
        assert any(EMBEDDING_VIEWS[view] in caption for caption in seen["decoded"]), view
    assert seen["sections"] == [name for name in ALL_SECTIONS if name in seen["sections"]]
    assert seen["audio"]

    # A copy of the run folder elsewhere, with the cache gone, still reports.
    copy = tmp_path / "elsewhere" / "run"
    shutil.copytree(experiment.output_dir, copy)
    shutil.rmtree(copy / "report")
    shutil.rmtree(experiment.cache_dir)
    outcome = CliRunner().invoke(app, ["report", "--run", str(copy), "--quiet"])
    assert outcome.exit_code == 0, outcome.output
    assert_clean_page(open_report(copy / "report" / "index.html"))
