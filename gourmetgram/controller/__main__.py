"""python -m gourmetgram.controller: the controller install (see install.py)."""

import sys

from gourmetgram.controller.install import main

sys.exit(main())
