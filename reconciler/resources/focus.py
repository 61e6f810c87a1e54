"""Which rows of a kind's list a plan reads: this state's objects, found by the owner tag, plus
the few other objects the plan must see; not everybody else's objects in the account.

Mold's list commands of the four kinds take ``tags[n].key/value`` (ListIsosCmd and
ListTemplatesCmd extend BaseListTaggedResourcesCmd; ListVMsCmd and ListNetworksCmd extend
BaseListRetrieveOnlyResourceCountCmd, which extends it), so one filtered listing brings this
owner's objects, however many others the account holds. What the owner tag cannot find, and
the planner still needs (docs/state.md, "Ownership"):

* a declared resource no object of this owner carries the address of (the plan would create
  it): objects with its address tag and objects with its name, two looks (an untagged one
  with the name is adopted; one another state or mwin 0.1 tagged with the address stops the
  plan, as with a full listing);
* an id state records that the filtered listing did not bring (an object that lost its owner
  tag, was taken by another state, or is gone): looked for by id;
* ``{name: …}``/``{id: …}`` references to unmanaged objects: looked for by name or id.

Each is one call (Mold's ``tags`` filter holds one value per key: TaggedResources
.parseKeyValueMap collects the entries with Collectors.toMap, so looks cannot share a call;
ablestack-cloud api/src/main/java/org/apache/cloudstack/api/TaggedResources.java). Past
``TARGETED_MAX`` looks for a kind, one unfiltered listing of the kind is read instead: a
plan that creates many objects of a kind reads that kind as a plan always did.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from reconciler.errors import ApiError
from reconciler.model import ADDRESS_TAG, OWNER_TAG, Ref, tags_of
from reconciler.mold.api import MoldApi

__all__ = ["Focus", "focused_rows", "TARGETED_MAX"]

TARGETED_MAX = 8  # looks per kind (by address, name or id) before a full listing is cheaper


@dataclass(frozen=True)
class Focus:
    """What one kind's refresh must see: ``owner`` (None: everything, as without a focus),
    the kind's declared addresses with their names in Mold, the ids state records for it,
    the references to unmanaged objects anywhere in the spec, and, for kinds that read more
    than their list (a VM's snapshots and disk), the declarations and recorded attributes."""

    owner: str | None
    names: Mapping[str, str] = field(default_factory=dict)  # address -> name in Mold
    recorded: Mapping[str, str] = field(default_factory=dict)  # address -> Mold id
    refs: tuple[Ref, ...] = ()
    declared: Mapping[str, Any] = field(default_factory=dict)  # address -> the kind's spec
    attributes: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)  # address -> recorded
    name_of: Mapping[str, str] = field(default_factory=dict)  # any declared address -> its name

    def looks(self, mine: list[dict[str, Any]], by_name: str) -> list[dict[str, Any]]:
        """The calls (extra list parameters) for what ``mine``, this owner's rows, lacks."""
        ids = {str(r.get("id")) for r in mine}
        addresses = {tags_of(r).get(ADDRESS_TAG) for r in mine}
        names = {str(r.get("name")) for r in mine}
        looks: list[dict[str, Any]] = []
        for address, name in self.names.items():
            if address not in addresses and self.recorded.get(address) not in ids:
                looks.append({by_name: name})
                looks.append({"tags": [{"key": ADDRESS_TAG, "value": address}]})
        looks += [{"id": ident} for ident in self.recorded.values() if ident not in ids]
        for ref in self.refs:
            if ref.id and ref.id not in ids:
                looks.append({"id": ref.id})
            if ref.name and ref.name not in names:
                looks.append({by_name: ref.name})
        unique = {repr(sorted(look.items())): look for look in looks}
        return list(unique.values())


def focused_rows(client: MoldApi, focus: Focus | None, command: str, item_key: str,
                 params: Mapping[str, Any], by_name: str = "name") -> list[dict[str, Any]]:
    """The rows of ``command`` a plan needs (module docstring); every row without a focus.
    ``by_name`` is the parameter that finds objects by name (``keyword`` where the command
    has no ``name``: a substring match, narrowed here to the exact name)."""
    if focus is None or not focus.owner:
        return client.list_all(command, item_key, params)
    mine = client.list_all(command, item_key, {
        **params, "tags": [{"key": OWNER_TAG, "value": focus.owner}]})
    looks = focus.looks(mine, by_name)
    if not looks:
        return mine
    if len(looks) > TARGETED_MAX:
        return client.list_all(command, item_key, params)
    rows = list(mine)
    for look in looks:
        rows += [r for r in _look(client, command, item_key, {**params, **look})
                 if by_name not in look or r.get("name") == look[by_name]]
    unique: dict[tuple[Any, Any], dict[str, Any]] = {}
    for row in rows:
        unique.setdefault((row.get("id"), row.get("zoneid")), row)
    return list(unique.values())


def _look(client: MoldApi, command: str, item_key: str, params: dict[str, Any]
          ) -> list[dict[str, Any]]:
    """One look; an id Mold does not know is an answer (431), not an error: nothing found."""
    try:
        return client.list_all(command, item_key, params)
    except ApiError as exc:
        if "id" in params and exc.errorcode == 431:
            return []
        raise
