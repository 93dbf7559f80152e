"""`python -m services.cli` runs the `crm` command."""

import sys

from services.cli.main import main

sys.exit(main())
