"""Run cryoviz as ``python -m cryoviz``."""

import sys

from cryoviz.cli import main

sys.exit(main())
