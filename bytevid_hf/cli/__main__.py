"""``python -m bytevid_hf.cli`` runs the ``bytevid`` command."""

import sys

from . import main

sys.exit(main())
