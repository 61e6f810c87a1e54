"""The registry of resource kinds, in dependency order: a kind may reference only kinds
before it (a VM may also deploy from a template of the spec: references, not this order,
decide the order of actions). Everything that iterates over kinds reads ``KINDS``; adding a
kind is docs/adding-a-kind.md."""

from __future__ import annotations

from reconciler.model import Address
from reconciler.resources import iso, network, template, vm
from reconciler.resources.contract import KindModule

__all__ = ["KINDS", "KIND_ORDER", "parse_address"]

# mypy checks every module against the contract here.
_ISO: KindModule = iso
_NETWORK: KindModule = network
_VM: KindModule = vm
_TEMPLATE: KindModule = template

KINDS: dict[str, KindModule] = {k.KIND: k for k in (_ISO, _NETWORK, _VM, _TEMPLATE)}
KIND_ORDER: tuple[str, ...] = tuple(KINDS)


def parse_address(text: str) -> Address:
    """``<kind>.<key>`` with a registered kind; ValueError naming the kinds otherwise."""
    address = Address.parse(text) if "." in text else None
    if address is None or address.kind not in KINDS:
        raise ValueError(f"{text!r} is not an address: expected <kind>.<key> with kind one of "
                         f"{', '.join(KIND_ORDER)}")
    return address
