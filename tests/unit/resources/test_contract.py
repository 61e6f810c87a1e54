"""Every registered kind fulfils the contract (mypy checks it statically in the registry;
this checks it at run time, and the attribute tables against the specs)."""

from __future__ import annotations

import inspect

import pytest

from reconciler.model import ResourceSpec
from reconciler.resources import KIND_ORDER, KINDS, parse_address
from reconciler.resources.base import ActionInputs, OnChange
from reconciler.resources.contract import KindModule

FUNCTIONS = {name: list(inspect.signature(getattr(KindModule, name)).parameters)[1:]
             for name in ("references", "validate", "desired", "observe", "refresh", "holds",
                          "release_steps", "tables", "plan_changes", "execute")}


def test_registry_is_in_dependency_order_and_complete() -> None:
    assert KIND_ORDER == ("iso", "network", "vm", "template")
    assert list(KINDS) == list(KIND_ORDER)
    assert parse_address("vm.master").kind == "vm"
    with pytest.raises(ValueError, match="kind one of iso, network, vm, template"):
        parse_address("disk.root")


@pytest.mark.parametrize("kind", KIND_ORDER)
def test_kind_has_every_name_of_the_contract(kind: str) -> None:
    module = KINDS[kind]
    assert kind == module.KIND and module.SECTION and module.RESOURCE_TYPE and module.LIST_COMMAND
    assert issubclass(module.Spec, ResourceSpec)
    for name, params in FUNCTIONS.items():
        function = getattr(module, name)
        assert list(inspect.signature(function).parameters) == params, (kind, name)
    inputs = getattr(module, "Inputs", None) or __import__(f"reconciler.resources.{kind}.execution", fromlist=["Inputs"]).Inputs
    assert issubclass(inputs, ActionInputs)


@pytest.mark.parametrize("kind", KIND_ORDER)
def test_attribute_table_names_spec_keys_once(kind: str) -> None:
    module = KINDS[kind]
    names = [a.name for a in module.ATTRS]
    assert len(names) == len(set(names))
    spec_keys = set(module.Spec.model_fields) | {"boot.type", "boot.mode", "boot.tpm"}
    assert set(names) - spec_keys == set()
    for attr in module.ATTRS:
        if attr.on_change is OnChange.IN_PLACE:
            assert attr.command, f"{kind}.{attr.name}: in place needs the command"
        assert (attr.field is None) or attr.field.islower()
