"""The page in a real browser: Debian's headless Chromium, driven by selenium through Debian's chromedriver (no
browser is downloaded), against a real uvicorn server on localhost.

It types a prompt, waits for the grid, checks that every image decoded (naturalWidth > 0) and that the reranker's
scores show best first, then completes an uploaded image. It skips, saying why, only where no Chromium or
chromedriver is installed (`make browser` installs them; CI runs it first).

``GENKIT_SCREENSHOT=PATH.png`` saves a screenshot of the page there (the README's, docs/images/serve.png), and
``GENKIT_SCREENSHOT_RUN=RUN_DIR`` points that run at another run than the tiny one (a trained demo).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from pathlib import Path

import pytest
from serve_support import image_file, live_server

CHROMIUM = next((p for p in ("/usr/bin/chromium", "/usr/bin/chromium-browser") if Path(p).exists()), None)
DRIVER = shutil.which("chromedriver") or ("/usr/bin/chromedriver" if Path("/usr/bin/chromedriver").exists() else None)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--window-size=1100,900",
]


def browser():
    """A headless Chromium session with a fresh profile; skips (saying why) when none is installed."""
    webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install -e '.[dev]')")
    if CHROMIUM is None or DRIVER is None:
        pytest.skip("no Chromium or chromedriver installed (Debian: apt-get install chromium chromium-driver)")
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for flag in FLAGS:
        options.add_argument(flag)
    profile = tempfile.mkdtemp(prefix="genkit-chromium-")
    options.add_argument(f"--user-data-dir={profile}")
    driver = webdriver.Chrome(service=Service(executable_path=DRIVER), options=options)
    driver.set_page_load_timeout(60)
    return driver, profile


DECODED = """
const imgs = Array.from(document.querySelectorAll('#grid img'));
return imgs.length && imgs.every(i => i.complete && i.naturalWidth > 0) ? imgs.map(i => i.naturalWidth) : null;
"""


def wait_for_grid(driver, count: int, title: str):
    """The grid's images once ``count`` of them decoded under a title containing ``title``; their widths."""
    from selenium.webdriver.support.ui import WebDriverWait

    def ready(d):
        if title not in d.find_element("id", "result-title").text:
            return None
        widths = d.execute_script(DECODED)
        return widths if widths and len(widths) == count else None

    return WebDriverWait(driver, 60, poll_frequency=0.1).until(ready, f"no grid of {count} decoded images")


def test_the_page_draws_scores_and_completes_in_chromium(make_app, run_dir, tmp_path):
    from selenium.webdriver.support.ui import WebDriverWait

    screenshot = os.environ.get("GENKIT_SCREENSHOT")
    other = os.environ.get("GENKIT_SCREENSHOT_RUN")
    if other:
        from genkit.serve.app import create_app

        app = create_app(other)
    else:
        app = make_app()
    driver, profile = browser()
    try:
        with live_server(app) as url:
            driver.get(url)
            WebDriverWait(driver, 30).until(lambda d: d.find_element("id", "candidates").get_attribute("value"))
            if not other:  # the run's stages.sample filled the controls
                assert driver.find_element("id", "candidates").get_attribute("value") == "4"
                assert driver.find_element("id", "temperature").get_attribute("value") == "0.9"
                assert driver.find_element("id", "top_k").get_attribute("value") == "20"
            driver.find_element("id", "prompt").send_keys("a red circle at the top left")
            for name, value in (("candidates", "32" if other else "6"), ("keep", "4" if other else "3")):
                field = driver.find_element("id", name)
                field.clear()
                field.send_keys(value)
            driver.find_element("id", "draw").click()
            keep = 4 if other else 3
            widths = wait_for_grid(driver, keep, "a red circle at the top left")
            assert all(w == app.state.worker.pipeline.autoencoder.image_size for w in widths)
            scores = [s.text for s in driver.find_elements("css selector", "#grid .score")]
            assert len(scores) == keep and all(re.fullmatch(r"score -?\d+\.\d{3}", s) for s in scores), scores
            values = [float(s.split()[1]) for s in scores]
            assert values == sorted(values, reverse=True)
            assert driver.find_element("id", "grid-download").get_attribute("href").endswith("/grid.png")
            assert "done in" in driver.find_element("id", "message").text

            upload = tmp_path / "upload.png"
            upload.write_bytes(image_file((40, 40), "blue"))
            driver.find_element("id", "image").send_keys(str(upload))
            rows = driver.find_element("id", "rows")
            rows.clear()
            rows.send_keys("1" if other else "2")
            driver.find_element("id", "complete").click()
            wait_for_grid(driver, keep, "completed from")
            WebDriverWait(driver, 30).until(lambda d: len(d.find_elements("css selector", "#recent button")) == 2)
            if screenshot:
                driver.find_element("css selector", "#recent button:last-child").click()  # the drawn grid again
                wait_for_grid(driver, keep, "a red circle at the top left")
                driver.set_window_size(1100, 900)
                driver.execute_script("window.scrollTo(0, 0)")
                Path(screenshot).parent.mkdir(parents=True, exist_ok=True)
                assert driver.save_screenshot(str(screenshot))
            logs = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
            assert not logs, logs
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)
        if other:
            app.state.worker.close()
