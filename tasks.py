"""Every lab step as an invoke task. `invoke --list` shows them in lab order.

Thin on purpose: the tasks live in gourmetgram/tasks/, the logic in gourmetgram/.
"""

from invoke import Collection

ns = Collection()

from gourmetgram.tasks import local  # noqa: E402

local.register(ns)

from gourmetgram.tasks import cluster  # noqa: E402

cluster.register(ns)

from gourmetgram.tasks import nodes  # noqa: E402

nodes.register(ns)

from gourmetgram.tasks import feedback  # noqa: E402

feedback.register(ns)
