"""``python -m lscsde_spawner.service``: the workspaces service, as the hub starts it."""

import sys

from .app import main

sys.exit(main())
