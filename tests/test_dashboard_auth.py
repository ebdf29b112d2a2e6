"""The dashboard with API keys, in a real headless browser (as tests/test_store_dashboard.py): the page asks for a
key once, sends it as ``Authorization: Bearer``, keeps it for the tab, and asks again after a 401."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.jobs_support import job_settings, jsonl, live_server, wait_until
from tests.store_support import SALT
from tests.test_auth import ACME_KEY, GLOBEX_KEY, KEYS, bearer
from tests.test_store_dashboard import _loaded, browser  # noqa: F401  (the browser fixture)


@pytest.fixture
def keyed_live(tmp_path: Path) -> Iterator[str]:
    settings = job_settings(tmp_path, store_salt=SALT, api_keys=KEYS, store_tenants="acme", rate_limit_rps=0)
    with live_server(settings) as base:
        yield base


def test_the_dashboard_asks_for_a_key_and_sends_it(keyed_live: str, browser: object) -> None:  # noqa: F811
    records = [{"id": f"s{i}", "text": f"快递三天没动，我要投诉 {i}", "channel": "app"} for i in range(6)]
    r = httpx.post(
        f"{keyed_live}/v1/jobs", params={"dataset": "shop"}, content=jsonl(records),
        headers={"content-type": "application/x-ndjson", **bearer(ACME_KEY)},
    )  # fmt: skip
    assert r.status_code == 202, r.text
    job = f"{keyed_live}/v1/jobs/{r.json()['id']}"
    wait_until(lambda: httpx.get(job, headers=bearer(ACME_KEY)).json()["state"] == "completed", 60, "the job")

    driver: object = browser
    driver.get(f"{keyed_live}/dashboard")  # type: ignore[attr-defined]
    prompt = driver.switch_to.alert  # type: ignore[attr-defined]
    assert "API key" in prompt.text
    prompt.send_keys(ACME_KEY)
    prompt.accept()
    _loaded(driver)
    assert driver.find_element("id", "status").text == "6 complaints"  # type: ignore[attr-defined]
    stored = driver.execute_script("return sessionStorage.getItem('tousu-api-key')")  # type: ignore[attr-defined]
    assert stored == ACME_KEY
    driver.refresh()  # type: ignore[attr-defined]
    _loaded(driver)  # no second prompt: the key is kept for the tab

    # A key whose tenant may not read the store: 403, shown as an error, not a prompt loop.
    driver.execute_script(f"sessionStorage.setItem('tousu-api-key', '{GLOBEX_KEY}')")  # type: ignore[attr-defined]
    driver.refresh()  # type: ignore[attr-defined]
    with pytest.raises(AssertionError, match="403"):
        _loaded(driver, timeout=10)
