"""The ``fhirbridge`` command line.

Each command lives in the module that owns its feature and exposes ``register(subparsers)``, which adds
its parser and sets ``handler`` (a function taking the parsed arguments and returning an exit code).
"""

from __future__ import annotations

import argparse
import importlib
import sys
from collections.abc import Sequence

COMMAND_MODULES: tuple[str, ...] = (
    "fhirbridge.server.cli",
    "fhirbridge.validation.cli",
    "fhirbridge.client.cli",
    "fhirbridge.assessment.cli",
    "fhirbridge.mappers.cli",
    "fhirbridge.security.cli",
    "fhirbridge.conformance.cli",
    "fhirbridge.storage.cli",
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="fhirbridge", description=__doc__.splitlines()[0] if __doc__ else None)
    subparsers = parser.add_subparsers(dest="command", required=True)
    for module_name in COMMAND_MODULES:
        importlib.import_module(module_name).register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    code: int = args.handler(args)
    return code


if __name__ == "__main__":
    sys.exit(main())
