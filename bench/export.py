"""Bulk export: time and server memory for exporting N resources, against baselines of the same run.

``python -m bench.export`` exports the generated store of 1,000,000 resources (bench/stores.py, SQLite,
built once and cached) and the 100,000 one through a real server process with authentication on, and
reports for each: the time from kick-off to the manifest, the server's resident memory before and its
peak (VmHWM) after, and the time a plain ``SELECT content`` of the same rows takes (the floor: reading
the bytes, nothing else). Memory that stays flat from 100,000 to 1,000,000 is what "bounded" means.
``--quick`` runs 2,000 and 20,000 resources on stores built for the run. The figures are recorded in
docs/bulk-export.md.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import httpx
import sqlalchemy as sa

from bench.machine import describe
from bench.servers import ServerProcess
from bench.stores import DEFAULT_CACHE, Prepared, SqliteBuilder

SECRET = "fhirbridge-benchmark-secret-not-for-real-data-0123"
ISSUER = "http://127.0.0.1/bench-issuer"
AUDIENCE = "http://127.0.0.1/bench"
RESULTS = Path(__file__).resolve().parent / "results" / "export.md"


@dataclass(frozen=True)
class Point:
    size: int
    exported: int
    seconds: float
    select_seconds: float
    rss_before: int
    rss_peak: int
    file_bytes: int


def serve(argv: list[str]) -> int:
    """The server under test (``ServerProcess`` runs this): authentication on, one practice (the token's
    claim makes the caller the children's care team), so every page goes through the access policy."""
    parser = argparse.ArgumentParser(prog="bench.export serve")
    parser.add_argument("--database-url", required=True)
    parser.add_argument("--export-dir", required=True)
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args(argv)
    import uvicorn

    from fhirbridge.config import Settings
    from fhirbridge.server.app import create_app

    settings = Settings(
        database_url=args.database_url,
        jwt_secret=SECRET,
        jwt_issuer=ISSUER,
        jwt_audience=AUDIENCE,
        treating_relationship="claim",
        subscription_delivery=False,
        allowed_hosts=["127.0.0.1"],
        export_dir=args.export_dir,
        # The 1,000,000-resource store's pages are keyset seeks, but a cold first page of a large type
        # may take longer than a request would be allowed; an export is no request.
        query_timeout_seconds=0,
    )
    uvicorn.run(create_app(settings), host="127.0.0.1", port=args.port, log_level="warning", access_log=False)
    return 0


def token() -> str:
    from fhirbridge.security.roles import role_claims
    from fhirbridge.security.tokens import mint_token

    claims = role_claims("care-coordinator", user="Practitioner/bench")
    return mint_token(claims, secret=SECRET, issuer=ISSUER, audience=AUDIENCE, ttl=3600, subject="bench")


def peak_rss(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise RuntimeError("VmHWM not found")


def with_type_pk_index(url: str) -> None:
    """A store cached while migration 7 was being written may lack its index (``IF NOT EXISTS``: else a no-op)."""
    from fhirbridge.storage.export_jobs import TYPE_PK_INDEX

    engine = sa.create_engine(url)
    with engine.begin() as conn:
        conn.execute(sa.text(TYPE_PK_INDEX))
    engine.dispose()


def select_seconds(url: str) -> tuple[float, int]:
    """The floor: every current resource's stored bytes read with one streamed SELECT, nothing else."""
    engine = sa.create_engine(url)
    started = time.perf_counter()
    count = 0
    with engine.connect() as conn:
        rows = conn.execution_options(yield_per=1000).execute(
            sa.text("SELECT content FROM resources WHERE deleted = 0")
        )
        for _ in rows:
            count += 1
    engine.dispose()
    return time.perf_counter() - started, count


def export_point(prepared: Prepared, size: int, work: Path, say: Callable[[str], None]) -> Point:
    store = work / f"export-{size}.sqlite3"
    shutil.copyfile(prepared.path, store)
    url = f"sqlite:///{store}"
    try:
        with_type_pk_index(url)
        floor, rows = select_seconds(url)
        say(f"{size:,}: plain SELECT of {rows:,} rows in {floor:.1f} s")
        exports = work / f"files-{size}"
        command = [sys.executable, "-m", "bench.export", "serve", "--database-url", url, "--export-dir", str(exports)]
        with ServerProcess("fhir-export", command=command) as server:
            base = f"http://{server.host}:{server.port}"
            with httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token()}"}, timeout=600) as http:
                http.get("/Patient", params={"_count": "1"}).raise_for_status()  # warm: models, relations
                before = server.rss_bytes()
                started = time.perf_counter()
                kicked = http.get("/$export", headers={"Prefer": "respond-async"})
                kicked.raise_for_status()
                status = kicked.headers["content-location"]
                while (answer := http.get(status)).status_code == 202:
                    time.sleep(0.5)
                answer.raise_for_status()
                seconds = time.perf_counter() - started
                peak = peak_rss(server.process.pid)
                manifest = answer.json()
        exported = sum(item["count"] for item in manifest["output"])
        written = sum(path.stat().st_size for path in exports.rglob("*.ndjson"))
        memory = f"RSS {before / 2**20:.0f} -> peak {peak / 2**20:.0f} MiB"
        say(f"{size:,}: exported {exported:,} in {seconds:.1f} s, {memory}")
        return Point(size, exported, seconds, floor, before, peak, written)
    finally:
        for leftover in work.glob(f"export-{size}.sqlite3*"):  # with its audit log and journal
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink()
        shutil.rmtree(work / f"files-{size}", ignore_errors=True)


def cached_store(size: int, builder: SqliteBuilder) -> Prepared:
    """The cached store of ``size``: this code's fingerprint's, else the newest one cached under another
    (the generated data is the same for a seed; the server migrates the schema it finds), else built."""
    if not (builder.folder / f"store-{size}.sqlite3").exists():
        found = sorted(DEFAULT_CACHE.glob(f"*/store-{size}.sqlite3"), key=lambda p: p.stat().st_mtime)
        found = [path for path in found if path.with_suffix(".json").exists()]
        if found:
            seconds = float(json.loads(found[-1].with_suffix(".json").read_text())["seconds"])
            return Prepared(found[-1], seconds, cached=True)
    return builder.prepare(size)


def report(points: list[Point]) -> str:
    machine = describe()
    lines = [
        "| resources | exported | export | plain SELECT | export / SELECT | server RSS before | peak RSS | ndjson |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(
            f"| {p.size:,} | {p.exported:,} | {p.seconds:.1f} s | {p.select_seconds:.1f} s "
            f"| {p.seconds / p.select_seconds:.1f}x | {p.rss_before / 2**20:.0f} MiB | {p.rss_peak / 2**20:.0f} MiB "
            f"| {p.file_bytes / 2**20:.0f} MiB |"
        )
    if len(points) == 2:
        small, large = points
        lines.append("")
        lines.append(
            f"From {small.size:,} to {large.size:,} resources ({large.size / small.size:.0f}x): export time "
            f"{large.seconds / small.seconds:.1f}x, peak RSS {large.rss_peak / small.rss_peak:.2f}x."
        )
    lines.append("")
    lines += [f"- {name}: {value}" for name, value in machine.rows()]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["serve"]:
        return serve(argv[1:])
    parser = argparse.ArgumentParser(prog="python -m bench.export", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 and 20,000 resources, stores built for the run")
    args = parser.parse_args(argv)
    sizes = (2_000, 20_000) if args.quick else (100_000, 1_000_000)

    def say(message: str) -> None:
        print(message, flush=True)

    with tempfile.TemporaryDirectory(prefix="fhirbridge-bench-export-") as tmp:
        work = Path(tmp)
        builder = SqliteBuilder(None if args.quick else DEFAULT_CACHE, work, say)
        points = []
        for size in sizes:
            prepared = builder.prepare(size) if args.quick else cached_store(size, builder)
            say(f"{size:,}: store {prepared.path}")
            points.append(export_point(prepared, size, work, say))
    text = report(points)
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(text)
    print(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
