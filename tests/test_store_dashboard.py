"""The dashboard end to end in a real headless browser (Debian's chromium through Selenium and chromedriver):
the page loads, its charts and tables show the stored numbers, a filter changes them; a screenshot is
written to ``$TOUSU_TEST_ARTIFACTS_DIR`` (default ``var/test-artifacts/``).

Needs ``apt-get install chromium chromium-driver`` (as CI has); fails loudly without them.
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.jobs_support import ROOT, job_settings, jsonl, live_server, wait_until
from tests.store_support import SALT

ARTIFACTS = Path(os.environ.get("TOUSU_TEST_ARTIFACTS_DIR", ROOT / "var" / "test-artifacts"))
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
CHROMEDRIVER = shutil.which("chromedriver")


@pytest.fixture
def live(tmp_path: Path) -> Iterator[str]:
    """The app with the fake model and keyword stages, served over real HTTP for the browser."""
    with live_server(job_settings(tmp_path, store_salt=SALT)) as base:
        yield base


def _job(base: str, dataset: str, records: list[dict[str, Any]]) -> None:
    r = httpx.post(
        f"{base}/v1/jobs", params={"dataset": dataset}, content=jsonl(records),
        headers={"content-type": "application/x-ndjson"},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    job_id = r.json()["id"]
    wait_until(lambda: httpx.get(f"{base}/v1/jobs/{job_id}").json()["state"] == "completed", 60, "the job")


def _records(n: int, prefix: str) -> list[dict[str, Any]]:
    texts = ["退款还没到账", "快递三天没动，我要投诉", "iPhone屏幕有坏点", "服务不错"]
    return [
        {
            "id": f"{prefix}{i}",
            "text": f"{texts[i % 4]}，第{i}单",
            "channel": "app" if i % 2 else "phone",
            "received_at": f"2026-03-0{1 + i % 3}T09:00:00+00:00",
        }
        for i in range(n)
    ]


@pytest.fixture
def browser() -> Iterator[Any]:
    if CHROMIUM is None or CHROMEDRIVER is None:
        pytest.fail("the dashboard test needs Debian's chromium and chromium-driver (apt-get install ...)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--window-size=1400,2000"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    yield driver
    driver.quit()


def _loaded(driver: Any, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while (state := driver.find_element("id", "status").get_attribute("data-loaded")) != "1":
        assert state != "error", driver.find_element("id", "status").text
        assert time.monotonic() < deadline, "the dashboard did not finish loading"
        time.sleep(0.1)


_CHART_TOTAL = (
    "return document.getElementById(arguments[0]).data.reduce((n, t) => n + t.y.reduce((a, b) => a + b, 0), 0)"
)
_BARS = "const t = document.getElementById(arguments[0]).data[0]; return [t.x, t.customdata]"


def test_dashboard_shows_the_stored_numbers_and_filters_change_them(live: str, browser: Any) -> None:
    _job(live, "shop", _records(12, "s"))
    _job(live, "hotline", _records(4, "h"))
    stats = httpx.get(f"{live}/v1/stats", params={"group_by": "category"}).json()["groups"]

    browser.get(f"{live}/dashboard")
    _loaded(browser)
    assert browser.execute_script(_CHART_TOTAL, "volume") == 16
    assert browser.find_element("id", "status").text == "16 complaints"
    x, counts = browser.execute_script(_BARS, "categories")
    assert dict(zip(x, counts, strict=True)) == {g["key"] or "(none)": g["count"] for g in stats}
    red_rows = browser.find_elements("css selector", "#red-queue tr")[1:]
    assert len(red_rows) == 4  # s1, s5, s9 and h1 are red (the keyword stage's 投诉) and open
    assert all("delivery" in row.text for row in red_rows)
    assert len(browser.find_elements("css selector", "#alerts tr")) == 5  # header + one new_red alert each
    products = browser.find_element("id", "products").text
    assert "iPhone" in products

    dataset = browser.find_element("id", "dataset")
    dataset.send_keys("hotline")
    browser.find_element("id", "apply").click()
    _loaded(browser)
    assert browser.execute_script(_CHART_TOTAL, "volume") == 4
    assert len(browser.find_elements("css selector", "#red-queue tr")[1:]) == 1
    since, until = browser.find_element("id", "since"), browser.find_element("id", "until")
    browser.execute_script("arguments[0].value = '2026-03-02'; arguments[1].value = '2026-03-02'", since, until)
    browser.find_element("id", "apply").click()
    _loaded(browser)
    assert browser.execute_script(_CHART_TOTAL, "volume") == 1  # h1, the hotline's one message of March 2
    trend = browser.find_element("id", "category-trend").text
    assert "delivery" in trend and "▲" in trend  # 100% of March 2 against 0% of March 1

    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    shot = ARTIFACTS / "dashboard.png"
    assert browser.save_screenshot(str(shot)) and shot.stat().st_size > 10_000


def test_plotly_is_served_by_the_service(live: str) -> None:
    r = httpx.get(f"{live}/dashboard/plotly.min.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert len(r.content) > 1_000_000 and b"plotly" in r.content[:2000].lower()
    page = httpx.get(f"{live}/dashboard").text
    assert '<script src="/dashboard/plotly.min.js">' in page and "cdn" not in page.lower()
