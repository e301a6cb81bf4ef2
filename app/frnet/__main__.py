"""``python -m frnet``: the same as the ``frnet-app`` command (:mod:`frnet.entry`)."""

import sys

from .entry import main

sys.exit(main())
