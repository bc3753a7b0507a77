"""Bulk Data export (HL7 FHIR Bulk Data Access 2.0): ``$export`` at system, Patient and Group level; and import.

An export is a job (``jobs.py``, one row in ``export_jobs``) run in the background by a worker thread of
any server process (``worker.py``); it pages through the search engine under the access of the caller
who asked for it (``run.py``), writing one ndjson file per type (``files.py``). Its parameters are read
from the kick-off request by ``request.py``; the HTTP side is ``fhirbridge/server/bulk.py``.
See docs/bulk-export.md.

The other half of the round trip, ``fhirbridge import``, loads ndjson files through the engine's write path
(``importing.py``, ``import_lines.py``, ``import_state.py``; the command is ``fhirbridge/server/import_cli.py``).
See docs/bulk-import.md.
"""
