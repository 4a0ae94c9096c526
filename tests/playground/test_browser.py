"""End to end in headless Chromium (system packages chromium + chromium-driver, driven by Selenium):
open the page, start a recipe, and see the step counter and the plots update."""
import os
import shutil
import socket
import threading
import time
from pathlib import Path

import pytest

webdriver = pytest.importorskip("selenium.webdriver", reason="selenium is not installed (pip install 'gankit[playground]')")
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
DRIVER = shutil.which("chromedriver")
pytestmark = pytest.mark.skipif(not (CHROMIUM and DRIVER), reason="needs the Debian packages chromium and chromium-driver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def server(tmp_path):
    import uvicorn

    from gankit.playground.server import ServerOptions, create_app

    port = free_port()
    config = uvicorn.Config(create_app(ServerOptions(runs_dir=tmp_path / "runs")), host="127.0.0.1", port=port, log_level="warning")
    srv = uvicorn.Server(config)
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not srv.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}/"
    srv.should_exit = True
    thread.join(timeout=10)


@pytest.fixture
def browser():
    from selenium.webdriver.chrome.options import Options
    from selenium.webdriver.chrome.service import Service

    options = Options()
    options.binary_location = CHROMIUM
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--window-size=1200,900"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(DRIVER), options=options)
    yield driver
    driver.quit()


def painted_pixels(driver, canvas_id: str) -> int:
    """Non-white pixels of a canvas (the page draws on white)."""
    return driver.execute_script(f"""
        const c = document.getElementById('{canvas_id}');
        const d = c.getContext('2d').getImageData(0, 0, c.width, c.height).data;
        let n = 0; for (let i = 0; i < d.length; i += 4) if (d[i] < 250 || d[i+1] < 250 || d[i+2] < 250) n++;
        return n;""")


def wait_for(predicate, timeout=60.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError("timed out")


def test_page_trains_and_draws(server, browser, tmp_path):
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import Select

    browser.get(server)
    wait_for(lambda: browser.find_element(By.ID, "connection").text == "connected")
    wait_for(lambda: len(Select(browser.find_element(By.ID, "recipe")).options) > 0)
    Select(browser.find_element(By.ID, "target")).select_by_value("ring")
    Select(browser.find_element(By.ID, "recipe")).select_by_value("wgan-gp")
    for key, value in (("width", "32"), ("batch_size", "64")):
        field = browser.find_element(By.ID, key)
        field.clear()
        field.send_keys(value)
    browser.find_element(By.ID, "apply").click()
    browser.find_element(By.ID, "start").click()
    counter = lambda: int(browser.find_element(By.ID, "step-counter").text or 0)  # noqa: E731
    first = wait_for(lambda: counter() if counter() > 0 else 0)
    second = wait_for(lambda: counter() if counter() > first else 0)
    assert first <= 200 and second > first  # the page shows progress within 200 steps, and keeps moving
    assert painted_pixels(browser, "plane") > 1000  # D's heat map and the samples
    wait_for(lambda: painted_pixels(browser, "loss-chart") > 50)  # loss curves drawn
    assert browser.find_element(By.ID, "modes").text.endswith("/8")
    browser.find_element(By.ID, "pause").click()
    shot = Path(os.environ.get("GANKIT_PLAYGROUND_SCREENSHOT", tmp_path / "playground.png"))
    shot.parent.mkdir(parents=True, exist_ok=True)
    browser.save_screenshot(str(shot))
    assert shot.stat().st_size > 10_000
