"""Start-up objects are kept out of the garbage collector's full passes (server/app.py)."""

from __future__ import annotations

import gc
import subprocess
import sys
import textwrap


def test_a_started_server_has_frozen_its_start_up_heap() -> None:
    # In a process of its own: the freeze is once per process, and the test process has done it already.
    script = textwrap.dedent(
        """
        import gc, tempfile
        from fastapi.testclient import TestClient
        from fhirbridge.config import Settings
        from fhirbridge.server.app import create_app

        settings = Settings(
            database_url=f"sqlite:///{tempfile.mkdtemp()}/db.sqlite", auth_disabled=True, subscription_delivery=False
        )
        app = create_app(settings)
        before = gc.get_freeze_count()
        with TestClient(app) as client:
            assert client.get("/metadata").status_code == 200
            print(before, gc.get_freeze_count())
        """
    )
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    before, after = map(int, result.stdout.split())
    assert before == 0
    assert after > 100_000  # the models, schemas and tables start-up built
    assert gc.isenabled()  # requests' garbage is still collected
