"""Command modules; importing this package registers every handler in `registry.COMMANDS`."""

from moldsim import console  # createConsoleEndpoint (moldsim/console.py)
from moldsim.commands import (
    accounts,
    config,
    deploy,
    discovery,
    isos,
    jobs,
    networks,
    nics,
    power,
    projects,
    ratelimit,
    snapshots,
    tags,
    templates,
    vms,
)

__all__ = ["accounts", "config", "deploy", "discovery", "isos", "jobs", "networks", "nics", "power",
           "projects", "ratelimit", "snapshots", "tags", "templates", "vms", "console"]
