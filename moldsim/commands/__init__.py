"""Command modules; importing this package registers every handler in `registry.COMMANDS`."""

from moldsim.commands import discovery, isos, jobs, tags  # noqa: F401

__all__ = ["discovery", "isos", "jobs", "tags"]
