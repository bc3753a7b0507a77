"""The layers depend inward: an import (at the top of a module or inside a function) from an inner part of
fhirbridge to an outer one fails here.

``LAYERS`` lists the parts from the innermost; a part may import its own layer and those before it. The
imports that point outward today are listed in ``KNOWN_OUTWARD`` with the reason each is still there: the
list only shrinks (an entry whose import is gone fails too, so it is taken off), and a new outward import
is refused.

The engine runs no SQL: it imports no SQL driver, and reads through the search store (engine/stores.py)
rather than a connection, but for the modules ``KNOWN_CONNECTIONS`` lists (a list that only shrinks too).
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

from tests.support import REPO_ROOT

PACKAGE = REPO_ROOT / "fhirbridge"

LAYERS: tuple[frozenset[str], ...] = (
    # the shared kernel: errors, settings, what a reference and a compartment are
    frozenset({"fhirbridge", "errors", "config", "references", "compartment", "classification"}),
    frozenset({"domain"}),  # the care-coordination record: nothing of FHIR, HTTP or SQL
    frozenset({"formats"}),  # FHIR JSON and XML
    frozenset({"validation", "assessment"}),
    frozenset({"mappers"}),  # the record to FHIR and back
    frozenset({"storage"}),
    frozenset({"search"}),
    frozenset({"security"}),
    frozenset({"engine"}),  # interactions, bundles, operations
    frozenset({"subscriptions", "bulk"}),
    frozenset({"composition"}),  # wires storage, the search index and the subscriptions together
    frozenset({"demo", "client", "conformance"}),
    frozenset({"server"}),  # HTTP, and the composition of everything below
    frozenset({"cli", "__main__"}),
)

# (importing module, imported module): outward imports not yet turned around, each with its reason.
KNOWN_OUTWARD: dict[tuple[str, str], str] = {}


def layer_of(module: str) -> int:
    part = module.split(".")[1] if module.count(".") else module
    for index, layer in enumerate(LAYERS):
        if part in layer:
            return index
    raise AssertionError(f"{module}: its part {part!r} is in no layer of tests/test_layers.py")


def modules() -> Iterator[tuple[str, Path]]:
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(REPO_ROOT).with_suffix("").parts
        yield ".".join(parts[:-1] if parts[-1] == "__init__" else parts), path


def imports(path: Path) -> Iterator[str]:
    """Every fhirbridge module ``path`` imports, wherever the import statement is."""
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names if alias.name.split(".")[0] == "fhirbridge")
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module == "fhirbridge":
            for alias in node.names:  # from fhirbridge import demo (a part) or __version__ (the kernel's)
                submodule = (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").exists()
                yield f"fhirbridge.{alias.name}" if submodule else "fhirbridge"
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and (node.module or "").startswith("fhirbridge."):
            yield str(node.module)


def outward_imports() -> set[tuple[str, str]]:
    found = set()
    for module, path in modules():
        for imported in imports(path):
            if layer_of(imported) > layer_of(module):
                found.add((module, imported))
    return found


def test_every_part_is_in_a_layer() -> None:
    for module, _ in modules():
        layer_of(module)


def test_no_import_points_outward() -> None:
    found = outward_imports()
    new = sorted(found - KNOWN_OUTWARD.keys())
    assert not new, f"imports pointing outward (move the code inward, or wire it in server/): {new}"
    gone = sorted(KNOWN_OUTWARD.keys() - found)
    assert not gone, f"take these off KNOWN_OUTWARD, they are gone: {gone}"


# The SQL drivers: the engine reads through the search store (fhirbridge/engine/stores.py), never with SQL.
SQL_PACKAGES = frozenset({"sqlalchemy", "psycopg", "psycopg2", "sqlite3"})
# Engine modules that still take a connection (``.connect()``, ``.connection()``), each with its reason; the
# list only shrinks.
KNOWN_CONNECTIONS: dict[str, str] = {
    "fhirbridge.engine.referrals": "Access.relations and Access.denial take the write transaction's connection",
}


def engine_nodes() -> Iterator[tuple[str, ast.AST]]:
    """Every node of every engine module, with the module's name."""
    for module, path in modules():
        if layer_of(module) == layer_of("fhirbridge.engine"):
            yield from ((module, node) for node in ast.walk(ast.parse(path.read_text())))


def test_the_engine_imports_no_sql() -> None:
    found = []
    for module, node in engine_nodes():
        if isinstance(node, ast.Import):
            found += [(module, alias.name) for alias in node.names if alias.name.split(".")[0] in SQL_PACKAGES]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in SQL_PACKAGES:
            found.append((module, str(node.module)))
    assert not found, f"the engine reads through the search store, not with SQL: {sorted(found)}"


def test_the_engine_holds_no_connection() -> None:
    holding = {
        module
        for module, node in engine_nodes()
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr in ("connect", "connection")
    }
    new = sorted(holding - KNOWN_CONNECTIONS.keys())
    assert not new, f"read through FhirEngine.index (engine/stores.py) instead of a connection: {new}"
    gone = sorted(KNOWN_CONNECTIONS.keys() - holding)
    assert not gone, f"take these off KNOWN_CONNECTIONS, they are gone: {gone}"


def test_no_test_module_imports_another() -> None:
    """What tests share lives in support modules (tests/factories.py, conftest fixtures, tests/*/builders.py),
    so running or changing one test module never depends on another's."""
    borrowed = []
    for path in sorted((REPO_ROOT / "tests").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[-1].startswith("test_"):
                borrowed.append(f"{path.relative_to(REPO_ROOT)} imports {node.module}")
    assert not borrowed, borrowed
