"""The explorer page as a visitor uses it: what they type and choose, and what they read back."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from selenium import webdriver
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.support.select import Select
from selenium.webdriver.support.wait import WebDriverWait

WAIT_SECONDS = 30
"""The machine is shared: a chart drawn by the server may take a few seconds."""

TABLE = """
const table = document.getElementById("numbers");
return {
  caption: table.caption.textContent,
  headers: [...table.tHead.rows[0]?.cells ?? []].map((cell) => cell.textContent),
  rows: [...table.tBodies[0].rows].map((row) => ({
    year: Number(row.dataset.year),
    edition: row.dataset.edition ? Number(row.dataset.edition) : null,
    label: row.cells[0].textContent,
    values: [...row.cells].slice(1).map((cell) => cell.dataset.value),
  })),
};
"""

ACCESSIBILITY = """
const problems = [];
const channel = (c) => (c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const luminance = ([r, g, b]) => 0.2126 * channel(r / 255) + 0.7152 * channel(g / 255) + 0.0722 * channel(b / 255);
const rgba = (text) => text.match(/[\\d.]+/g).map(Number);
const background = (element) => {
  for (let at = element; at; at = at.parentElement) {
    const colour = rgba(getComputedStyle(at).backgroundColor);
    if (colour.length === 3 || colour[3] > 0) return colour.slice(0, 3);
  }
  return [255, 255, 255];
};
for (const element of document.querySelectorAll("body *")) {
  const text = [...element.childNodes].some((node) => node.nodeType === 3 && node.textContent.trim());
  if (!text || !element.checkVisibility()) continue;
  const [fore, back] = [luminance(rgba(getComputedStyle(element).color)), luminance(background(element))];
  const ratio = (Math.max(fore, back) + 0.05) / (Math.min(fore, back) + 0.05);
  if (ratio < 4.5) problems.push(`contrast ${ratio.toFixed(2)}:1 on "${element.textContent.trim()}"`);
}
for (const control of document.querySelectorAll("input, select, button")) {
  const named = control.labels?.length || control.closest("label") || control.textContent.trim();
  if (!named) problems.push(`no label for ${control.outerHTML}`);
}
return problems;
"""
"""What a screen reader or a reader with low vision would stumble on: text under 4.5:1 contrast (WCAG AA, from
computed colours), and controls without a label."""


@dataclass
class ExplorerPage:
    """Selenium steps on ``/explore``."""

    driver: webdriver.Chrome
    base_url: str

    def open(self, query: str = "") -> None:
        self.driver.get(f"{self.base_url}/explore{'?' + query if query else ''}")

    def element(self, element_id: str) -> Any:
        return self.driver.find_element(By.ID, element_id)

    def text(self, element_id: str) -> str:
        return str(self.element(element_id).text)

    def visible(self, element_id: str) -> bool:
        return bool(self.element(element_id).is_displayed())

    def wait(self, condition: Any, message: str) -> None:
        WebDriverWait(self.driver, WAIT_SECONDS).until(lambda _: condition(), message)

    def sign_in(self, username: str, password: str) -> None:
        """Type the credentials and press Enter, as a keyboard user would."""
        self.wait(lambda: self.visible("sign-in"), "the page never asked to sign in")
        self.element("username").clear()
        self.element("username").send_keys(username)
        self.element("password").send_keys(password, Keys.ENTER)

    def wait_for_view(self) -> None:
        """Until the page has shown the view of its current URL (chart and table, or an error)."""
        self.wait(lambda: self.visible("explorer") and not self.visible("sign-in"), "the explorer never appeared")
        self.wait(
            lambda: self.element("results").get_attribute("aria-busy") == "false",
            f"the view never finished loading: {self.text('status')!r} {self.text('view-error')!r}",
        )

    def choose_races(self, *races: str) -> None:
        for box in self.driver.find_elements(By.CSS_SELECTOR, "#races input"):
            if box.is_selected() != (box.get_attribute("value") in races):
                box.click()

    def choose_sex(self, sex: str) -> None:
        self.driver.find_element(By.CSS_SELECTOR, f"input[name=sex][value='{sex}']").click()

    def select(self, name: str, value: str) -> None:
        Select(self.element(name)).select_by_value(value)

    def selected(self, name: str) -> str:
        return str(Select(self.element(name)).first_selected_option.get_attribute("value"))

    def chosen_races(self) -> list[str]:
        boxes = self.driver.find_elements(By.CSS_SELECTOR, "#races input")
        return [str(box.get_attribute("value")) for box in boxes if box.is_selected()]

    def query(self) -> str:
        return str(self.driver.execute_script("return location.search")).removeprefix("?")

    def table(self) -> dict[str, Any]:
        return dict(self.driver.execute_script(TABLE))

    def chart_is_drawn(self) -> bool:
        """The chart image is shown and decoded (a blank or broken image has no natural width)."""
        return bool(
            self.driver.execute_script(
                "const img = document.getElementById('chart');"
                " return !img.hidden && img.complete && img.naturalWidth > 0;"
            )
        )

    def accessibility_problems(self) -> list[str]:
        return list(self.driver.execute_script(ACCESSIBILITY))

    def session(self) -> dict[str, Any] | None:
        stored = self.driver.execute_script("return sessionStorage.getItem('libdib.session')")
        return json.loads(stored) if stored else None

    def reload_at_width(self, width: int) -> None:
        """Reload the page in a viewport ``width`` CSS pixels wide, as a phone or a desktop shows it."""
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", self._metrics(width, 900))
        self.driver.refresh()
        self.wait_for_view()

    def screenshot(self, path: Path) -> None:
        """The whole page at the current width."""
        path.parent.mkdir(parents=True, exist_ok=True)
        width = int(self.driver.execute_script("return window.innerWidth"))
        height = int(self.driver.execute_script("return document.documentElement.scrollHeight"))
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", self._metrics(width, min(height, 6000)))
        self.driver.save_screenshot(str(path))
        self.driver.execute_cdp_cmd("Emulation.setDeviceMetricsOverride", self._metrics(width, 900))

    @staticmethod
    def _metrics(width: int, height: int) -> dict[str, Any]:
        return {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": width < 600}
