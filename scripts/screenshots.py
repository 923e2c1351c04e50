"""Regenerate the dashboard screenshots of docs/operators.md (docs/img/console-*.png).

Serves orderbridge with the sandbox and a simulated warehouse (as the browser tests do: some orders
completed, some parked), signs in with Debian's chromium and photographs each page at 1280×800 and
the overview at phone width. Run with `make screenshots`.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from playwright.sync_api import Page, sync_playwright  # noqa: E402

from browser.served import served_console  # noqa: E402

OUT = ROOT / "docs" / "img"
TOKEN = "screenshot-token"


def _shoot(page: Page, name: str) -> None:
    path = OUT / f"console-{name}.png"
    page.screenshot(path=str(path), full_page=False)
    print(f"wrote {path.relative_to(ROOT)}")


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp, served_console(Path(tmp), TOKEN, orders=8, refused=3) as c:
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
            page = browser.new_page(viewport={"width": 1280, "height": 800})
            page.goto(f"{c.base_url}/ui/login")
            _shoot(page, "sign-in")
            page.get_by_label("API token", exact=False).fill(TOKEN)
            page.get_by_role("button", name="Sign in").click()
            page.wait_for_selector("section.account")
            _shoot(page, "overview")
            page.goto(f"{c.base_url}/ui/orders")
            _shoot(page, "orders")
            page.goto(f"{c.base_url}/ui/parked")
            _shoot(page, "parked")
            order_id = page.locator("table.parked tbody tr").first.get_attribute("data-order")
            page.goto(f"{c.base_url}/ui/orders/acme/{order_id}")
            _shoot(page, "order")
            page.set_viewport_size({"width": 390, "height": 844})
            page.goto(f"{c.base_url}/ui")
            _shoot(page, "overview-phone")
            browser.close()


if __name__ == "__main__":
    main()
