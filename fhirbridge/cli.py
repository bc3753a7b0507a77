"""The ``fhirbridge`` command line.

Each command lives in the module that owns its feature and exposes ``register(subparsers)``, which adds
its parser and sets ``handler`` (a function taking the parsed arguments and returning an exit code).
Only the module of the command run is imported (the server's pulls in everything), so ``fhirbridge token``
and ``fhirbridge --version`` answer at once.

A command that cannot start because of the deployment (a setting that does not parse, keys missing or too
weak, a database that does not answer, a schema older than the code) says so in one line on stderr, naming
the setting and the fix, and exits 2. Any other exception is a bug and keeps its traceback; ``--debug`` (or
``FHIRBRIDGE_DEBUG=1``) shows the traceback of the first kind too.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
from collections.abc import Sequence
from typing import Any

from fhirbridge import FHIR_VERSION, __version__

# command -> the module that registers it, in the order --help lists them.
COMMANDS: dict[str, str] = {
    "serve": "fhirbridge.server.cli",
    "validate": "fhirbridge.validation.cli",
    "sync": "fhirbridge.client.cli",
    "assessment": "fhirbridge.assessment.cli",
    "convert": "fhirbridge.mappers.cli",
    "token": "fhirbridge.security.cli",
    "conformance": "fhirbridge.conformance.cli",
    "db": "fhirbridge.composition",
    "import": "fhirbridge.server.import_cli",
}
COMMAND_MODULES: tuple[str, ...] = tuple(dict.fromkeys(COMMANDS.values()))
EXIT_START_UP = 2
TRUE = ("1", "true", "yes", "on")


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser; with ``command``, holding that command's module only (else every command's)."""
    parser = argparse.ArgumentParser(prog="fhirbridge", description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"fhirbridge {__version__} (FHIR {FHIR_VERSION})")
    parser.add_argument(
        "--debug", action="store_true", help="show the traceback of start-up errors too (env FHIRBRIDGE_DEBUG=1)"
    )
    subparsers = parser.add_subparsers(dest="command", required=True)
    modules = [COMMANDS[command]] if command in COMMANDS else COMMAND_MODULES
    for module_name in modules:
        importlib.import_module(module_name).register(subparsers)
    return parser


def _command_of(argv: Sequence[str]) -> str | None:
    """The command named in ``argv`` (the first word that is not an option), if it is one we know."""
    for word in argv:
        if not word.startswith("-"):
            return word if word in COMMANDS else None
    return None


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser(_command_of(argv)).parse_args(argv)
    debug = args.debug or os.environ.get("FHIRBRIDGE_DEBUG", "").lower() in TRUE
    try:
        code: int = args.handler(args)
    except SystemExit as stop:
        if not isinstance(stop.code, str):  # argparse's, or a handler's own status
            raise
        print(stop.code, file=sys.stderr)  # a handler's message for the user: its wording is the fix
        return EXIT_START_UP
    except Exception as error:
        line = None if debug else start_up_error(error)
        if line is None:
            raise
        print(f"fhirbridge {args.command}: {line}", file=sys.stderr)
        return EXIT_START_UP
    return code


def start_up_error(error: BaseException) -> str | None:
    """One line for an error a deployer can fix by changing a setting; None for anything else (a bug)."""
    from pydantic import ValidationError

    from fhirbridge.security.tokens import ConfigurationError

    if isinstance(error, ValidationError) and error.title == "Settings":
        return _invalid_settings(error)
    if isinstance(error, ConfigurationError):
        return str(error)
    if type(error).__name__ == "SchemaNotCurrent":  # fhirbridge.server.app's: importing it loads the server
        return f"FHIRBRIDGE_MIGRATE_ON_START is false and {str(error)[0].lower()}{str(error)[1:]}"
    return _database_error(error)


def _invalid_settings(error: Any) -> str:
    """``error``: pydantic's ValidationError of ``Settings`` (its field names are the variables')."""
    problems = []
    for problem in error.errors():
        name = str(problem["loc"][0]) if problem["loc"] else "?"
        given = problem.get("input")
        shown = f" (not {given!r})" if isinstance(given, str | int | float) and not isinstance(given, bool) else ""
        problems.append(f"FHIRBRIDGE_{name.upper()} {_problem(problem)}{shown}")
    return "; ".join(problems) + "; fix it in the environment (docs/configuration.md lists every setting)"


def _problem(problem: Any) -> str:
    if problem["type"] == "literal_error":
        return "must be " + str(problem["ctx"]["expected"])
    text = str(problem["msg"])
    return "must be " + text.removeprefix("Input should be ") if text.startswith("Input should be ") else text


def _database_error(error: BaseException) -> str | None:
    from sqlalchemy import exc as sa_exc

    if isinstance(error, sa_exc.ArgumentError | sa_exc.NoSuchModuleError):
        return (
            f"FHIRBRIDGE_DATABASE_URL is not a database URL fhirbridge can use ({error}); give "
            "postgresql://user@host:port/db or sqlite:///path (or --database-url)"
        )
    if isinstance(error, sa_exc.OperationalError | sa_exc.InterfaceError):
        # The driver's first line says why (refused, unknown host, bad password); the SQL and links are noise.
        reason = str(error.orig).strip().splitlines()[0] if error.orig is not None else str(error)
        return (
            f"the database of FHIRBRIDGE_DATABASE_URL cannot be used ({reason}); check that it runs and "
            "is reachable from here, and the URL (or --database-url)"
        )
    return None


if __name__ == "__main__":
    sys.exit(main())
