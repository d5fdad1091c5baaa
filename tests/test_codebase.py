"""The codebase's own rules: imports point one way, and every docstring's examples hold.

Imports: the web and the command line use the domain, never the reverse.

Top level: ``api`` may import ``trace``, ``geo`` and ``scanners``; ``geo`` imports ``trace``;
``scanners`` imports only ``trace``'s code parsing; ``trace`` imports none of them. Inside
``trace``, each layer imports only the layers below it: the pure core, then ``store``, then
``ingest``, ``resolve`` and ``investigate``; ``accounts`` sits on ``store``; ``demo`` needs the
core alone. Every import counts, also one inside a function.
"""

from __future__ import annotations

import ast
import doctest
import importlib
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
FOLDERS = {
    "trace": "rxtrace.trace",
    "geo": "rxtrace.geo",
    "scanners": "rxtrace.scanners",
    "api": "rxtrace.api",
}

CORE = "rxtrace.trace.core"
"""The modules directly in ``trace/`` (codes, coords, protect, money, errors, gcpause)."""

LAYERS: Mapping[str, frozenset[str]] = {
    # A part and the parts it may import (itself always).
    CORE: frozenset(),
    "rxtrace.trace.store": frozenset({CORE}),
    "rxtrace.trace.ingest": frozenset({CORE, "rxtrace.trace.store"}),
    "rxtrace.trace.resolve": frozenset({CORE, "rxtrace.trace.store", "rxtrace.trace.ingest"}),
    "rxtrace.trace.investigate": frozenset(
        {CORE, "rxtrace.trace.store", "rxtrace.trace.ingest", "rxtrace.trace.resolve"}
    ),
    "rxtrace.trace.accounts": frozenset({CORE, "rxtrace.trace.store"}),
    "rxtrace.trace.demo": frozenset({CORE}),
    # The batch jobs on Spark: the embedded path's own code over other rows.
    "rxtrace.trace.spark": frozenset(
        {
            CORE,
            "rxtrace.trace.store",
            "rxtrace.trace.ingest",
            "rxtrace.trace.resolve",
            "rxtrace.trace.investigate",
        }
    ),
    "rxtrace.scanners": frozenset({"rxtrace.trace.codes", "rxtrace.trace.errors"}),
    "rxtrace.geo": frozenset(
        {
            CORE,
            "rxtrace.trace.store",
            "rxtrace.trace.ingest",
            "rxtrace.trace.resolve",
            "rxtrace.trace.investigate",
            "rxtrace.trace.spark",
        }
    ),
    "rxtrace.api": frozenset(
        {
            CORE,
            "rxtrace.trace.store",
            "rxtrace.trace.ingest",
            "rxtrace.trace.resolve",
            "rxtrace.trace.investigate",
            "rxtrace.trace.accounts",
            "rxtrace.trace.demo",
            "rxtrace.trace.spark",
            "rxtrace.scanners",
            "rxtrace.geo",
        }
    ),
}


def part_of(module: str) -> str:
    """The part a module belongs to: a layer of ``trace``, or a top-level package.

    >>> part_of("rxtrace.trace.codes"), part_of("rxtrace.trace.store.models"), part_of("rxtrace.geo.maps")
    ('rxtrace.trace.core', 'rxtrace.trace.store', 'rxtrace.geo')
    """
    names = module.split(".")
    if names[:2] == ["rxtrace", "trace"]:
        if len(names) > 2 and ".".join(names[:3]) in LAYERS:
            return ".".join(names[:3])
        return CORE
    return ".".join(names[:2])


def allowed(importer: str, imported: str) -> bool:
    """Whether module ``importer`` may import module ``imported``."""
    mine, theirs = part_of(importer), part_of(imported)
    if mine == theirs:
        return True
    permitted = LAYERS[mine]
    return theirs in permitted or any(
        imported == name or imported.startswith(name + ".") for name in permitted if name != CORE
    )


def modules(root: Path) -> Iterator[tuple[str, Path]]:
    for folder, package in FOLDERS.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            yield ".".join((package, *parts)), path


def imports(module: str, path: Path) -> Iterator[tuple[int, str]]:
    """Every ``rxtrace`` module ``path`` imports, with its line."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            yield from (
                (node.lineno, alias.name) for alias in node.names if alias.name.startswith("rxtrace.")
            )
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                up = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*up, base] if base else up)
            if base.startswith("rxtrace."):
                # ``from rxtrace.trace import codes`` imports the module ``codes``.
                for alias in node.names:
                    yield node.lineno, f"{base}.{alias.name}" if base.count(".") < 2 else base


def violations(root: Path) -> list[str]:
    found = []
    for module, path in modules(root):
        for line, imported in imports(module, path):
            if not allowed(module, imported):
                found.append(f"{path.relative_to(root)}:{line}: {module} imports {imported}")
    return found


def test_imports_point_one_way() -> None:
    assert violations(REPO) == []


def test_every_module_belongs_to_a_known_part() -> None:
    parts = {part_of(module) for module, _ in modules(REPO)}
    assert parts <= set(LAYERS), parts - set(LAYERS)


@pytest.mark.parametrize(
    ("where", "line", "wrong"),
    [
        (
            "trace/store/extra.py",
            "from rxtrace.trace.investigate import find_leads",
            "store imports investigate",
        ),
        ("trace/codes_extra.py", "from rxtrace.api.output import out", "trace imports api"),
        ("scanners/extra.py", "from rxtrace.trace.store import models", "scanners reach the store"),
        ("geo/extra.py", "def f():\n    from rxtrace.api import cli", "geo imports api, in a function"),
        ("trace/ingest/extra.py", "from rxtrace.trace.resolve import rules", "ingest imports resolve"),
    ],
)
def test_an_arrow_the_wrong_way_is_caught(tmp_path: Path, where: str, line: str, wrong: str) -> None:
    for folder in FOLDERS:
        (tmp_path / folder).mkdir()
    target = tmp_path / where
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(line + "\n")
    assert len(violations(tmp_path)) == 1, wrong


# Migrations run only inside Alembic, which hands them their context.
MODULES = sorted(name for name, _ in modules(REPO) if ".migrations" not in name)


@pytest.mark.parametrize("name", MODULES)
def test_doctests(name: str) -> None:
    module = importlib.import_module(name)
    result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
    assert result.failed == 0


def test_the_doctests_are_found() -> None:
    # A module list that came back empty, or modules that no longer import, would pass above.
    attempted = sum(doctest.testmod(importlib.import_module(name)).attempted for name in MODULES)
    assert len(MODULES) > 70 and attempted > 40


def test_every_package_is_listed_for_the_wheel() -> None:
    """setuptools maps the folders by hand (``package-dir``), so a subpackage missing from
    ``packages`` installs fine in editable mode and is silently absent from a wheel."""
    import tomllib

    config = tomllib.loads((REPO / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["setuptools"]
    listed = set(config["packages"])
    on_disk = {
        ".".join([FOLDERS[folder], *init.parent.relative_to(REPO / folder).parts])
        for folder in FOLDERS
        for init in (REPO / folder).rglob("__init__.py")
    }
    assert on_disk - listed == set()
