"""`python -m stepper.cli`, as `stepper`."""

import sys

from . import main

sys.exit(main())
