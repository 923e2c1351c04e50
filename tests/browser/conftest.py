"""Browser tests drive Debian's `chromium` (installed by `make test` through scripts/chromium-up.sh)
with pytest-playwright, against one orderbridge served for the whole module."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .served import ServedConsole, served_console

CHROMIUM = os.environ.get("ORDERBRIDGE_CHROMIUM", "/usr/bin/chromium")
TOKEN = "console-test-token"


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.fail(f"no chromium at {CHROMIUM}: run `make test` (scripts/chromium-up.sh installs it)")
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture(scope="module")
def console(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServedConsole]:
    with served_console(tmp_path_factory.mktemp("console"), TOKEN) as served:
        yield served
