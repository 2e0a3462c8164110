"""The repository's root directory: the one place that counts parent directories.

Everything that reads a checked-in file (k8s/ values, workflows/, ansible/, app/, train/)
or keeps state beside the checkout (.state/, .cache/) starts from here.
"""

from __future__ import annotations

from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
