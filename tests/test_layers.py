"""The arrows between layers run one way: the process (`service`, `cli`) may import everything; the
pipeline never imports the HTTP API or the process around it; configuration imports no adapter.

Read from the source (every import, also those inside functions), so a lazy import cannot hide an
arrow that runs back up.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "orderbridge"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    package = ".".join(path.relative_to(SRC.parent).with_suffix("").parts[:-1])
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(_absolute(node, package))
    return found


def _absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def modules_of(layer: str) -> list[Path]:
    root = SRC / layer
    return sorted(root.rglob("*.py")) if root.is_dir() else [SRC / f"{layer}.py"]


@pytest.mark.parametrize(
    ("layer", "forbidden"),
    [
        ("pipeline", ("orderbridge.api", "orderbridge.service", "orderbridge.cli", "uvicorn")),
        ("store", ("orderbridge.pipeline", "orderbridge.api", "orderbridge.erp", "orderbridge.service")),
        ("core", ("orderbridge.pipeline", "orderbridge.store", "orderbridge.api", "orderbridge.erp")),
        ("vtex", ("orderbridge.pipeline", "orderbridge.store", "orderbridge.api", "orderbridge.erp")),
        ("config", ("orderbridge.erp", "orderbridge.pipeline", "orderbridge.api", "orderbridge.store")),
    ],
)
def test_a_layer_never_imports_the_layers_above_it(layer: str, forbidden: tuple[str, ...]) -> None:
    arrows_up = sorted(
        f"{path.relative_to(SRC)} imports {module}"
        for path in modules_of(layer)
        for module in imported_modules(path)
        if any(module == f or module.startswith(f + ".") for f in forbidden)
    )
    assert arrows_up == []
