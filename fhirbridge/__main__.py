"""``python -m fhirbridge``: the same command line as ``fhirbridge``."""

import sys

from fhirbridge.cli import main

sys.exit(main())
