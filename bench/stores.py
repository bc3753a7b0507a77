"""The stores the HTTP benchmarks run against: N generated resources, loaded through the repository.

Every size point gets a pristine store of exactly the children ``bench.data`` generates for it, so
one point's write scenarios never leak into the next. The SQLite store of a size is built through the
repository (``put`` in large transactions: the same code path, search indexing included, that a
write takes, minus HTTP) and kept in a cache keyed by a fingerprint of the generator and of the storage
and search code, so a second run does not pay for the bulk load again; a benchmark run copies it.
The PostgreSQL store of a size is a fresh schema holding the same rows, copied table by table from
the SQLite store (bulk inserts, which is how a large import would reach PostgreSQL).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import os
import shutil
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa

import fhirbridge
from bench.data import RESOURCES_PER_CHILD, SEED, children
from fhirbridge.composition import open_repository
from fhirbridge.storage import schema
from fhirbridge.storage.sql import SqlRepository

POSTGRES_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
LOAD_BATCH = 500  # resources per repository transaction while bulk loading
COPY_BATCH = 5_000  # rows per bulk insert when copying to PostgreSQL
DEFAULT_CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "fhirbridge-bench"


class Store:
    """An open store of one size point: ``children`` generated children, numbered from 0."""

    def __init__(self, backend: str, url: str, children: int) -> None:
        self.backend = backend
        self.url = url
        self.children = children
        self.repository: SqlRepository = open_repository(url)

    def count(self) -> int:
        r = schema.resources
        with self.repository.connect() as conn:
            query = sa.select(sa.func.count()).select_from(r).where(r.c.deleted.is_(False))
            return int(conn.execute(query).scalar_one())

    def server_version(self) -> str:
        with self.repository.connect() as conn:
            if self.backend == "sqlite":
                return str(conn.exec_driver_sql("select sqlite_version()").scalar_one())
            return str(conn.exec_driver_sql("show server_version").scalar_one())

    def close(self) -> None:
        self.repository.dispose()


def children_for(size: int) -> int:
    return math.ceil(size / RESOURCES_PER_CHILD)


def load_children(repository: SqlRepository, first: int, count: int) -> None:
    """Store children ``first .. first+count-1`` through the repository, ``LOAD_BATCH`` resources a transaction."""
    batch: list[dict[str, Any]] = []

    def flush() -> None:
        with repository.write() as tx:
            for resource in batch:
                tx.put(resource["resourceType"], resource["id"], resource, method="POST")
        batch.clear()

    for record in children(first, count):
        batch.extend(record.resources())
        if len(batch) >= LOAD_BATCH:
            flush()
    if batch:
        flush()


def fingerprint() -> str:
    """Changes whenever the generated data or the code that stores and indexes it changes."""
    digest = hashlib.sha256(f"seed={SEED};per-child={RESOURCES_PER_CHILD}".encode())
    package = Path(fhirbridge.__file__).resolve().parent
    sources = [Path(__file__).with_name("data.py")]
    for folder in ("storage", "search"):
        if (package / folder).is_dir():
            sources += sorted(
                path for path in (package / folder).rglob("*") if path.is_file() and "__pycache__" not in path.parts
            )
    for path in sources:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


@dataclass(frozen=True)
class Prepared:
    path: Path  # a pristine SQLite store of the size (read-only: copy before use)
    seconds: float  # what building it through the repository took
    cached: bool  # True when it came from an earlier run's cache


class SqliteBuilder:
    """Pristine SQLite stores by size, built through the repository, grown from the largest smaller one."""

    def __init__(self, cache_dir: Path | None, work_dir: Path, log: Callable[[str], None]) -> None:
        self.folder = (cache_dir / fingerprint()) if cache_dir else work_dir / "pristine"
        self.folder.mkdir(parents=True, exist_ok=True)
        self.log = log

    def _path(self, size: int) -> Path:
        return self.folder / f"store-{size}.sqlite3"

    def prepare(self, size: int) -> Prepared:
        path = self._path(size)
        meta = path.with_suffix(".json")
        if path.exists() and meta.exists():
            return Prepared(path, float(json.loads(meta.read_text())["seconds"]), cached=True)
        smaller = sorted(
            int(p.stem.split("-")[1])
            for p in self.folder.glob("store-*.sqlite3")
            if p.with_suffix(".json").exists() and int(p.stem.split("-")[1]) < size
        )
        building = path.with_name(f"building-{uuid.uuid4().hex[:8]}.sqlite3")
        start_children, seconds = 0, 0.0
        if smaller:
            shutil.copyfile(self._path(smaller[-1]), building)
            start_children = children_for(smaller[-1])
            seconds = float(json.loads(self._path(smaller[-1]).with_suffix(".json").read_text())["seconds"])
        self.log(
            f"sqlite: building a {size:,}-resource store through the repository"
            + (f" from the {smaller[-1]:,} one" if smaller else "")
        )
        started = time.perf_counter()
        repository = open_repository(f"sqlite:///{building}")
        try:
            load_children(repository, start_children, children_for(size) - start_children)
            with repository.connect() as conn:
                conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)")
        finally:
            repository.dispose()
        seconds += time.perf_counter() - started
        os.replace(building, path)
        meta.write_text(json.dumps({"seconds": seconds, "size": size}))
        return Prepared(path, seconds, cached=False)


def postgres_available(url: str = POSTGRES_URL) -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        engine = sa.create_engine(url)
        with engine.connect() as conn:
            conn.execute(sa.text("select 1"))
        engine.dispose()
    except sa.exc.SQLAlchemyError as exc:
        return f"PostgreSQL at {url} is not reachable ({type(exc).__name__})"
    return None


def copy_rows(source_url: str, target: SqlRepository) -> None:
    """Every row of every table of the source store into the (migrated, empty) target store."""
    source_engine = sa.create_engine(source_url)
    try:
        source_tables = sa.MetaData()
        source_tables.reflect(source_engine)
        target_tables = sa.MetaData()
        target_tables.reflect(target.engine)
        with source_engine.connect() as source, target.engine.begin() as conn:
            for table in source_tables.sorted_tables:
                if table.name == schema.schema_migrations.name or table.name not in target_tables.tables:
                    continue
                destination = target_tables.tables[table.name]
                rows = source.execution_options(yield_per=COPY_BATCH).execute(sa.select(table)).mappings()
                for chunk in rows.partitions(COPY_BATCH):
                    conn.execute(destination.insert(), [dict(row) for row in chunk])
                _advance_sequences(conn, destination)
    finally:
        source_engine.dispose()


def _advance_sequences(conn: sa.Connection, table: sa.Table) -> None:
    """Copied rows carry their keys; move each serial sequence past them so new rows do not collide."""
    for column in table.primary_key.columns:
        sequence = conn.execute(
            sa.text("select pg_get_serial_sequence(:t, :c)"), {"t": table.name, "c": column.name}
        ).scalar()
        if sequence:
            conn.execute(
                sa.text(
                    f'select setval(:s, coalesce((select max("{column.name}") from "{table.name}"), 0) + 1, false)'
                ),
                {"s": sequence},
            )


@contextlib.contextmanager
def point_store(
    backend: str, prepared: Prepared, size: int, work_dir: Path, postgres_url: str = POSTGRES_URL
) -> Iterator[tuple[Store, float]]:
    """A fresh store of the size point, and the seconds it took to copy it into place."""
    started = time.perf_counter()
    if backend == "sqlite":
        path = work_dir / f"point-{uuid.uuid4().hex[:8]}.sqlite3"
        shutil.copyfile(prepared.path, path)
        store = Store(backend, f"sqlite:///{path}", children_for(size))
        try:
            yield store, time.perf_counter() - started
        finally:
            store.close()
            for leftover in path.parent.glob(path.name + "*"):
                leftover.unlink()
            path.unlink(missing_ok=True)
        return
    with postgres_schema(postgres_url) as url:
        pg_store: Store | None = None
        try:
            pg_store = Store(backend, url, children_for(size))
            copy_rows(f"sqlite:///{prepared.path}", pg_store.repository)
            with pg_store.repository.engine.connect() as conn:
                conn.exec_driver_sql("ANALYZE")  # fresh statistics, as a loaded production database has
                conn.commit()
            yield pg_store, time.perf_counter() - started
        finally:
            if pg_store is not None:
                pg_store.close()


@contextlib.contextmanager
def postgres_schema(postgres_url: str, prefix: str = "fhirbridge_bench") -> Iterator[str]:
    """A URL whose connections work in a fresh schema of ``postgres_url``'s database, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(postgres_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{name}"'))
    separator = "&" if "?" in postgres_url else "?"
    try:
        yield f"{postgres_url}{separator}options=-csearch_path%3D{name}"
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP SCHEMA "{name}" CASCADE'))
        admin.dispose()


__all__ = [
    "DEFAULT_CACHE",
    "POSTGRES_URL",
    "Prepared",
    "SqliteBuilder",
    "Store",
    "children_for",
    "copy_rows",
    "fingerprint",
    "load_children",
    "point_store",
    "postgres_available",
]
