"""The README's examples work together and point only inside the repository."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
README = (REPO / "README.md").read_text(encoding="utf-8")
EXAMPLE = REPO / "orderbridge.example.toml"


def _flag(text: str, name: str) -> str:
    found = re.search(rf"--{name}[ =](\S+)", text)
    assert found, f"--{name} not in the README's sandbox example"
    return found.group(1)


def test_the_readme_sandbox_and_the_example_config_use_the_same_account_and_keys() -> None:
    sandbox = README[README.index("### The VTEX OMS sandbox") :].split("```")[1]
    example_text = EXAMPLE.read_text(encoding="utf-8")
    exported = dict(re.findall(r"(VTEX_APP_KEY|VTEX_APP_TOKEN)=(\S+)", example_text))
    account = tomllib.loads(example_text)["accounts"][0]

    assert _flag(sandbox, "account-name") == account["name"]
    assert _flag(sandbox, "app-key") == exported["VTEX_APP_KEY"]
    assert _flag(sandbox, "app-token") == exported["VTEX_APP_TOKEN"]
    assert f"X-VTEX-API-AppKey: {exported['VTEX_APP_KEY']}" in sandbox
    assert f"X-VTEX-API-AppToken: {exported['VTEX_APP_TOKEN']}" in sandbox
    assert account["base_url"].endswith(":" + _flag(sandbox, "port"))


def test_the_readme_names_the_api_token_variable_and_its_comma_separated_form() -> None:
    assert re.search(r"ORDERBRIDGE_API_TOKENS=\S+,\S+", README)


def test_no_readme_link_points_outside_the_repository() -> None:
    targets = re.findall(r"\]\(([^)]+)\)", README) + re.findall(r"`((?:docs|scripts|bench)/[^`\s]+)`", README)
    assert targets, "the README links its docs"
    for target in targets:
        assert "://" not in target and not target.startswith(("/", "..")), target
        assert (REPO / target.split("#")[0]).exists(), target
    for url in re.findall(r"https?://[^\s'\")`]+", README):
        assert re.match(r"https?://(127\.0\.0\.1|localhost)[:/]", url), url


def test_every_metric_of_the_sample_scrape_is_documented_for_operators() -> None:
    sample = (REPO / "docs" / "metrics-sample.txt").read_text(encoding="utf-8")
    operators = (REPO / "docs" / "operators.md").read_text(encoding="utf-8")
    families = re.findall(r"^# TYPE (orderbridge_\w+) \w+", sample, flags=re.MULTILINE)
    assert len(families) >= 10
    for name in families:
        if name.endswith("_created"):
            continue  # prometheus-client's creation time of a counter or histogram, not a metric of ours
        assert f"`{name}`" in operators, name
