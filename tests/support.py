"""Test support shared by every test package: where the FHIR material is, and the database backends."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import sqlalchemy as sa

REPO_ROOT = Path(__file__).resolve().parents[1]
SHARED_DIR = Path(os.environ.get("FHIRBRIDGE_SHARED_DIR", REPO_ROOT.parent / "shared")).resolve()
FHIR_DIR = SHARED_DIR / "fhir"
EXAMPLES_JSON = FHIR_DIR / "r4-core-examples" / "json"
EXAMPLES_XML = FHIR_DIR / "r4-core-examples" / "xml"

POSTGRES_URL = os.environ.get("FHIRBRIDGE_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
REQUIRE_POSTGRES = os.environ.get("FHIRBRIDGE_REQUIRE_POSTGRES") == "1"


def postgres_available() -> bool:
    try:
        engine = sa.create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


@contextmanager
def postgres_schema() -> Iterator[str]:
    """A database URL whose connections work in a fresh schema, dropped afterwards."""
    name = f"fhirbridge_test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(POSTGRES_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in POSTGRES_URL else "?"
    try:
        yield f"{POSTGRES_URL}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


@contextmanager
def backend_url(backend: str, tmp_dir: Path) -> Iterator[str]:
    """A fresh, empty database of the named backend ("sqlite" or "postgresql")."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_dir / 'fhirbridge.sqlite3'}"
        return
    import pytest

    if not postgres_available():
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (FHIRBRIDGE_REQUIRE_POSTGRES=1) but {POSTGRES_URL} does not answer")
        pytest.skip("PostgreSQL is not available")
    with postgres_schema() as url:
        yield url
