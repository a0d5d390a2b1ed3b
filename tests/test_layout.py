"""Where shared test code lives (docs/testing.md): helpers in tests/support/, fixtures in
conftest.py. No test module, support module or benchmark imports a test module or conftest."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCES = sorted(
    [*(ROOT / "tests").glob("*.py"), *(ROOT / "tests" / "support").glob("*.py"),
     *(ROOT / "benchmarks").glob("*.py")]
)  # fmt: skip


def imported_modules(path: Path) -> set[str]:
    """Every module name an import statement in `path` names (at any depth)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            if node.module == "support" or node.module.startswith("tests"):
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
    return names


def is_test_module(name: str) -> bool:
    last = name.rsplit(".", 1)[-1]
    return last == "conftest" or last.startswith("test_")


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_test_module_or_conftest(path: Path) -> None:
    bad = sorted(name for name in imported_modules(path) if is_test_module(name))
    assert not bad, f"{path.relative_to(ROOT)} imports {bad}: shared code goes to tests/support/"


def test_helpers_are_not_beside_the_tests() -> None:
    """Only test modules and conftest.py at the top of tests/; helpers go to tests/support/."""
    stray = [p.name for p in (ROOT / "tests").glob("*.py") if not is_test_module(p.stem)]
    assert stray == []
