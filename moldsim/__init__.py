"""moldsim: a stand-alone emulator of the ABLESTACK Mold (CloudStack) HTTP API.

Written from `reference/mold-api.md` independently of the `reconciler` package (which it must
never import), so that bugs in mwin's client show up against it. See docs/moldsim.md.
"""

__version__ = "0.1.0"
