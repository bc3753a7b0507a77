"""Every official example is findable by every parameter whose value it carries (generated checks)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from fhirbridge.search.indexer import extract
from fhirbridge.search.values import MAX_MICROS, MIN_MICROS
from fhirbridge.storage.sql import SqlRepository
from tests.search.conftest import Store, examples, wipe

EXAMPLES = examples()


@pytest.fixture(scope="module")
def loaded(repository: SqlRepository) -> Iterator[Store]:
    wipe(repository)
    store = Store(repository)
    for resource in EXAMPLES:
        store.put(resource)
    yield store
    wipe(repository)


def _instant(micros: int) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(microseconds=micros)
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|").replace("$", "\\$")


def search_for(kind: str, row: dict[str, Any]) -> tuple[str, str] | None:
    """A search value that must find the row's resource (modifier suffix, value)."""
    if kind == "token":
        if row["code"] is None:
            return (":text", row["text"]) if row["text"] else None
        code = _escape(row["code"])
        return ("", f"{_escape(row['system'])}|{code}" if row["system"] else code)
    if kind == "string":
        return ("", _escape(row["norm"][:8]))
    if kind == "reference":
        if row["target_id"]:
            return (
                "",
                f"{row['target_type']}/{row['target_id']}" if row["target_type"] else row["target_id"],
            )
        return ("", row["url"])
    if kind == "date":
        if row["low"] != MIN_MICROS:
            return ("", f"ge{_instant(row['low'])}")
        return ("", f"le{_instant(row['high'])}") if row["high"] != MAX_MICROS else None
    if kind in ("number", "quantity"):
        return ("", repr(row["value"]))
    if kind == "uri":
        return ("", _escape(row["uri"]))
    if kind == "composite":
        first = f"{_escape(row['system'])}|{_escape(row['code'])}" if row["system"] else _escape(row["code"])
        if row["code2"] is not None:
            second = f"{_escape(row['system2'])}|{_escape(row['code2'])}" if row["system2"] else row["code2"]
            if row["value2"] is not None:
                second = repr(row["value2"])
        elif row["low2"] is not None:
            second = f"ge{_instant(row['low2'])}" if row["low2"] != MIN_MICROS else f"le{_instant(row['high2'])}"
        else:
            second = _escape(row["norm2"][:8])
        return ("", f"{first}${second}")
    return None


def cases() -> list[tuple[str, str, str, str]]:
    found = []
    for resource in EXAMPLES:
        for kind, rows in extract(resource).items():
            seen: set[str] = set()
            for row in rows:
                # Reserved rows (``@patient``, ``@label``...) are the access policy's, not search parameters.
                if row["param"] in seen or row["param"].startswith("@"):
                    continue
                query = search_for(kind, row)
                if query is None:
                    continue
                seen.add(row["param"])
                found.append((resource["resourceType"], resource["id"], row["param"] + query[0], query[1]))
    return found


CASES = cases()


def test_the_examples_carry_values_for_many_parameters() -> None:
    assert len(EXAMPLES) > 90
    assert len({(t, p.partition(":")[0]) for t, _, p, _ in CASES}) > 120


def test_every_example_is_found_by_each_of_its_values(loaded: Store) -> None:
    missed = []
    for resource_type, id, name, value in CASES:
        found = loaded.ids(resource_type, [(name, value), ("_id", id), ("_total", "none")], strict=True)
        if found != [id]:
            missed.append(f"{resource_type}/{id}?{name}={value}")
    assert missed == []
