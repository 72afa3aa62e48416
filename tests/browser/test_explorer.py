"""The explorer page in headless Chromium, against ``libdib serve`` with the sample workbooks loaded."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys

from libdib.adapters.jwt_codec import LEEWAY_SECONDS
from tests.browser.conftest import BRIEF_REFRESH_SECONDS, SCREENSHOTS, Explorer
from tests.browser.page import ExplorerPage

pytestmark = pytest.mark.long

GAP = "races=asian,white&sex=female&age_range=25-34&dollars=2019&compare=difference"
"""Asian and White women aged 25-34, in 2019 dollars, and the gap between them: the page's query is the API's."""


def api(explorer: Explorer, query: str, token: str | None = None) -> httpx.Response:
    """``GET /series`` asked directly, as a script would."""
    headers = {"Authorization": f"Bearer {token or explorer.token()}"}
    return httpx.get(f"{explorer.url}/series?{query}", headers=headers, timeout=30)


def assert_table_shows(table: dict[str, Any], answer: dict[str, Any]) -> None:
    """Every point of every series of the API's answer is in the table, in its series' column, and nothing else."""
    assert len(table["headers"]) == 1 + len(answer["series"])
    for column, series in enumerate(answer["series"]):
        expected = {(point["year"], point["edition"] or 0): point["value"] for point in series["points"]}
        shown = {
            (row["year"], row["edition"] or 0): float(row["values"][column]) if row["values"][column] else None
            for row in table["rows"]
        }
        assert {key: shown.get(key, "no row") for key in expected} == expected, series["key"]
        assert all(shown[key] is None for key in shown.keys() - expected.keys()), series["key"]


def sign_in(page: ExplorerPage, explorer: Explorer) -> None:
    page.sign_in(explorer.username, explorer.password)
    page.wait_for_view()


def test_a_reader_signs_in_picks_the_gap_between_asian_and_white_women_and_reads_the_apis_numbers(
    explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, explorer.url)
    page.open()
    assert page.visible("sign-in")
    assert not page.visible("explorer"), "nothing is shown before signing in"
    assert page.accessibility_problems() == []
    sign_in(page, explorer)

    page.choose_races("asian", "white")
    page.choose_sex("female")
    page.select("age_range", "25-34")
    page.select("dollars", "2019")
    page.select("compare", "difference")
    page.wait_for_view()

    assert page.query() == GAP, "the view lives in the URL, spelled as the API's query"
    assert page.text("api-url") == f"{explorer.url}/series?{GAP}"
    assert page.chart_is_drawn()
    assert "Asian minus White" in str(page.element("chart").get_attribute("alt"))
    answer = api(explorer, GAP)
    assert answer.status_code == 200
    table = page.table()
    assert_table_shows(table, answer.json())
    assert table["headers"][1] == "Asian \u2212 White"
    assert "2019 dollars" in table["caption"]
    marked = {row["year"] for row in table["rows"] if "\u2020" in row["label"]}
    assert marked == {2013, 2017}, "the years the sample tables list twice are marked"
    assert "2013 and 2017 are listed twice" in page.text("listed-twice")

    page.reload_at_width(1400)
    assert page.accessibility_problems() == []
    page.screenshot(SCREENSHOTS / "explorer-1400.png")
    page.reload_at_width(375)
    assert browser.execute_script("return document.documentElement.scrollWidth") <= 375, "nothing runs off a phone"
    assert page.chart_is_drawn()
    assert page.accessibility_problems() == []
    page.screenshot(SCREENSHOTS / "explorer-375.png")


def test_a_shared_link_asks_to_sign_in_then_shows_the_same_view_which_a_reload_and_back_keep(
    explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, explorer.url)
    page.open(GAP)
    assert "view this link shares" in page.text("sign-in-reason")
    sign_in(page, explorer)

    assert page.query() == GAP
    assert page.chosen_races() == ["asian", "white"]
    assert browser.execute_script("return document.querySelector('input[name=sex]:checked').value") == "female"
    assert [page.selected(name) for name in ("age_range", "dollars", "compare")] == ["25-34", "2019", "difference"]
    assert page.chart_is_drawn()
    shown = page.table()
    assert_table_shows(shown, api(explorer, GAP).json())

    browser.refresh()
    page.wait_for_view()
    assert not page.visible("sign-in"), "the tab keeps its session across a reload"
    assert page.table() == shown
    assert page.chart_is_drawn()

    page.choose_sex("male")
    page.wait_for_view()
    assert page.query() == GAP.replace("female", "male")
    browser.back()
    page.wait(lambda: page.query() == GAP, "Back did not return to the previous view")
    page.wait(lambda: page.table() == shown, "Back did not show the previous view's numbers")
    assert browser.execute_script("return document.querySelector('input[name=sex]:checked').value") == "female"


def test_a_keyboard_alone_reaches_the_controls_and_changes_the_view(
    explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, explorer.url)
    page.open("races=white,asian&sex=female&age_range=25-34")
    sign_in(page, explorer)
    body = browser.find_element(By.TAG_NAME, "body")
    body.send_keys(Keys.TAB)
    for _ in range(40):
        if browser.switch_to.active_element.get_attribute("id") == "compare":
            break
        browser.switch_to.active_element.send_keys(Keys.TAB)
    assert browser.switch_to.active_element.get_attribute("id") == "compare", "Tab never reached the compare control"

    browser.switch_to.active_element.send_keys(Keys.ARROW_DOWN)
    page.wait_for_view()
    assert page.query() == "races=white,asian&sex=female&age_range=25-34&compare=difference"
    assert page.table()["headers"][1] == "White \u2212 Asian", "the first race chosen stays first"
    assert page.chart_is_drawn()


def test_api_errors_are_a_sentence_next_to_the_control_that_caused_them_never_a_blank_chart(
    explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, explorer.url)
    no_base_year = "races=asian&sex=female&age_range=25-34&units=index"
    page.open(no_base_year)
    sign_in(page, explorer)
    refused = api(explorer, no_base_year)
    assert refused.status_code == 422
    assert refused.json()["detail"].rstrip(".") in page.text("base_year-error")
    assert page.element("base_year").get_attribute("aria-invalid") == "true"
    assert "No chart for this choice" in page.text("view-error")
    assert not page.chart_is_drawn()
    page.screenshot(SCREENSHOTS / "explorer-error-1400.png")

    page.select("base_year", "2010")
    page.wait_for_view()
    assert page.text("base_year-error") == ""
    assert not page.visible("view-error")
    assert page.chart_is_drawn()

    no_data = "races=black&sex=female&age_range=25-34"
    page.open(no_data)
    page.wait_for_view()
    missing = api(explorer, no_data)
    assert missing.status_code == 404
    assert missing.json()["detail"].rstrip(".") in page.text("races-error")
    assert "No chart for this choice" in page.text("view-error")


def test_the_csv_button_downloads_the_same_points_as_the_api(
    explorer: Explorer, browser: webdriver.Chrome, tmp_path: Path
) -> None:
    page = ExplorerPage(browser, explorer.url)
    page.open(GAP)
    sign_in(page, explorer)
    page.element("csv").click()
    downloaded = tmp_path / "libdib-series.csv"
    page.wait(downloaded.is_file, "the CSV was never downloaded")
    page.wait(lambda: downloaded.stat().st_size > 0, "the CSV stayed empty")
    assert downloaded.read_bytes() == api(explorer, f"{GAP}&format=csv").content


def test_a_new_visitor_creates_an_account_on_the_page_is_told_why_a_weak_password_is_refused_and_signs_out(
    explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, explorer.url)
    page.open()
    page.element("sign-up-toggle").click()
    page.sign_in("newcomer", "password1234")
    page.wait(lambda: page.text("password-error") != "", "a weak password was not explained")
    assert not page.visible("explorer")

    page.element("password").clear()
    page.sign_in("newcomer", "median incomes move slowly over decades")
    page.wait_for_view()
    assert page.text("who") == "Signed in as newcomer"
    assert page.query() == "races=asian,white&sex=female&age_range=25-34", "a first visit starts from a useful view"
    assert page.chart_is_drawn()
    session = page.session()
    assert session is not None, "signing in keeps the session for the tab"
    token = session["access"]

    page.element("sign-out").click()
    page.wait(lambda: page.visible("sign-in"), "signing out did not ask to sign in")
    assert "signed out" in page.text("sign-in-reason")
    assert page.session() is None
    refused = httpx.get(f"{explorer.url}/users/me", headers={"Authorization": f"Bearer {token}"})
    assert refused.status_code == 401, "signing out ended the session on the server too"


def test_an_expired_access_token_is_renewed_and_an_expired_session_asks_to_sign_in_again(
    brief_explorer: Explorer, browser: webdriver.Chrome
) -> None:
    page = ExplorerPage(browser, brief_explorer.url)
    page.open(GAP)
    sign_in(page, brief_explorer)
    first = page.session()
    assert first is not None

    time.sleep(1.5)  # past the one-second access token, within the refresh token's life
    page.choose_sex("male")
    page.wait_for_view()
    renewed = page.session()
    assert renewed is not None
    assert renewed["access"] != first["access"], "the page renewed its access token"
    assert page.chart_is_drawn()
    assert not page.visible("sign-in")

    time.sleep(BRIEF_REFRESH_SECONDS + LEEWAY_SECONDS + 1)  # past the refresh token too
    page.choose_sex("female")
    page.wait(lambda: page.visible("sign-in"), "an expired session did not ask to sign in")
    assert "session has expired" in page.text("sign-in-reason")
    assert "sign in again" in page.text("view-error")
    assert page.session() is None, "the dead tokens are forgotten"
    assert page.query() == GAP, "the view waits in the URL"

    sign_in(page, brief_explorer)
    assert page.query() == GAP
    assert page.chart_is_drawn()
    assert_table_shows(page.table(), api(brief_explorer, GAP).json())
