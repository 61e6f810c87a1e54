"""Resource kinds, in dependency order: a kind may reference only kinds before it."""

from __future__ import annotations

from typing import Any

from reconciler.resources import iso, network, template, vm

__all__ = ["KINDS"]

KINDS: dict[str, Any] = {
    iso.KIND: iso,
    network.KIND: network,
    vm.KIND: vm,
    template.KIND: template,
}
