"""`python -m cds_hooks.cli`: the same as the `traction-cds` command."""

import sys

from cds_hooks.cli.main import main

sys.exit(main())
