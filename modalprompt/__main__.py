"""``python -m modalprompt`` is the ``modalprompt`` command."""

import sys

from modalprompt.cli import main

sys.exit(main())
