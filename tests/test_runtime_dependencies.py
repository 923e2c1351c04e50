"""httpx2 is a test dependency (Starlette's test client, in-process ASGI transports): every outgoing
call in production goes over aiohttp, so no module of orderbridge may need httpx2 to be imported.

Checked in a fresh interpreter where importing httpx2 fails, importing every module of the package (the
one adapter for tests' in-process transports, `vtex.httpx_transport`, excepted; the Alembic scripts are
run by Alembic, not imported)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src" / "orderbridge"
TEST_ONLY = {"orderbridge.vtex.httpx_transport"}

WITHOUT_HTTPX2 = """
import importlib, importlib.abc, sys

class NoHttpx2(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("httpx2", "httpcore2"):
            raise ImportError(f"{name} is a test dependency")
        return None

sys.meta_path.insert(0, NoHttpx2())
for name in sys.argv[1:]:
    importlib.import_module(name)
"""


def runtime_modules() -> list[str]:
    names = []
    for path in sorted(SRC.rglob("*.py")):
        parts = path.relative_to(SRC.parent).with_suffix("").parts
        if "migrations" in parts:
            continue
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        if name not in TEST_ONLY:
            names.append(name)
    return names


def test_every_module_imports_without_httpx2_installed() -> None:
    modules = runtime_modules()
    assert "orderbridge.erp.webhook" in modules and "orderbridge.demo.runner" in modules
    result = subprocess.run(
        [sys.executable, "-c", WITHOUT_HTTPX2, *modules], capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr[-3000:]
