"""Command modules; importing this package registers every handler in `registry.COMMANDS`."""

from moldsim.commands import (  # noqa: F401
    deploy,
    discovery,
    isos,
    jobs,
    networks,
    nics,
    power,
    snapshots,
    tags,
    templates,
    vms,
)

__all__ = ["deploy", "discovery", "isos", "jobs", "networks", "nics", "power", "snapshots", "tags",
           "templates", "vms"]
