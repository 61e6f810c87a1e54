"""Settings: listConfigurations and updateConfiguration (synchronous), over moldsim.settings.

Sources (jeongda-young/ablestack-cloud): server/.../server/ManagementServerImpl
.searchForConfigurations and server/.../configuration/ConfigurationManagerImpl
.updateConfiguration / validateConfigurationValue:
- a domain admin without accountid/domainid gets its own domain's scope, a user its own
  account's (both only where the default role rules allow the command at all: root and
  domain admins, schema-41610to41700.sql);
- accountid (or domainid) selects that scope: access to it is checked (531) and only settings
  of that scope are listed, with the value in force for it; two scope ids: 431;
- an unknown name: 431 "Config parameter with name <n> doesn't exist"; a scope the setting
  lacks: 431 "Invalid scope id provided for the parameter <n>"; a Boolean other than
  true/false: 431 "Please enter either 'true' or 'false'."; an Integer that does not parse:
  431 "There was error in trying to parse value: ..." (moldsim takes fractional seconds for
  expunge.delay, which Mold would refuse);
- `name` matches as a substring (LIKE %name%); the answer is sorted by name.
- clusterid (a cluster of listClusters) selects the Cluster scope, like accountid/domainid
  (moldsim has one cluster per zone; the only Cluster-scoped setting is M's vm.iso.max.count).
Settings the profile's release lacks do not exist (settings.Setting.only_in).
"""

from __future__ import annotations

from typing import Any

from moldsim import errors, identity, listing, settings
from moldsim.context import Ctx
from moldsim.registry import INTEGER, STRING, UUID, Param, api


def _scope(ctx: Ctx, p: dict[str, Any]) -> tuple[str | None, str | None]:
    caller = ctx.account
    account_id, domain_id, cluster_id = p.get("accountid"), p.get("domainid"), p.get("clusterid")
    if cluster_id is not None:
        if account_id is not None or domain_id is not None:
            raise errors.param_error("cannot handle multiple IDs, provide only one ID corresponding to the scope")
        return "Cluster", cluster_id
    if caller["type"] == identity.DOMAIN_ADMIN and account_id is None and domain_id is None:
        domain_id = caller["domainid"]
    elif identity.is_normal(caller) and account_id is None:
        account_id = caller["id"]
    if account_id is not None and domain_id is not None:
        raise errors.param_error("cannot handle multiple IDs, provide only one ID corresponding to the scope")
    if account_id is not None:
        identity.check_owner(ctx.store, caller, account_id)
        return "Account", account_id
    if domain_id is not None:
        dom = identity.domain(ctx.store, domain_id)
        assert dom is not None
        identity.check_domain(ctx.store, caller, dom)
        return "Domain", domain_id
    return None, None


def view(ctx: Ctx, setting: settings.Setting, scope: str | None, scope_id: str | None) -> dict[str, Any]:
    value = settings.value(ctx.store, ctx.config, setting.name,
                           scope_id if scope == "Account" else None,
                           scope_id if scope == "Domain" else None,
                           scope_id if scope == "Cluster" else None)
    out: dict[str, Any] = {
        "category": setting.category, "name": setting.name, "value": value,
        "defaultvalue": settings.default_of(ctx.store, ctx.config, setting.name),
        "description": setting.description, "scope": setting.scope.lower(),
        "isdynamic": setting.dynamic, "component": setting.component, "type": setting.type,
        "displaytext": setting.name, "group": "Miscellaneous", "subgroup": "Others",
    }
    if scope is not None:
        out["scope"] = scope.lower()
        out["id"] = scope_id
    return out


@api("listConfigurations", [
    Param("name"), Param("category"), Param("keyword"), Param("zoneid", UUID, entity="zones"),
    Param("clusterid", UUID, entity="clusters"), Param("storageid", UUID), Param("imagestoreid", UUID),
    Param("accountid", UUID, entity="accounts"), Param("domainid", UUID, entity="domains"),
    Param("groupname"), Param("subgroupname"), Param("parent"), Param("page", INTEGER),
    Param("pagesize", INTEGER)])
def list_configurations(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    scope, scope_id = _scope(ctx, p)
    found = sorted(settings.in_profile(ctx.config), key=lambda s: s.name)
    if scope is not None:
        found = [s for s in found if s.scope == scope]
    if p.get("name"):
        found = [s for s in found if p["name"] in s.name]
    if p.get("category"):
        found = [s for s in found if s.category == p["category"]]
    if p.get("keyword"):
        kw = p["keyword"]
        found = [s for s in found if any(kw in f for f in (s.name, s.component, s.description, s.category))]
    return listing.respond(ctx, p, "configuration", [view(ctx, s, scope, scope_id) for s in found])


@api("updateConfiguration", [
    Param("name", STRING, True), Param("value"), Param("zoneid", UUID, entity="zones"),
    Param("clusterid", UUID, entity="clusters"), Param("storageid", UUID), Param("imagestoreid", UUID),
    Param("accountid", UUID, entity="accounts"), Param("domainid", UUID, entity="domains")])
def update_configuration(ctx: Ctx, p: dict[str, Any]) -> dict[str, Any]:
    name = p["name"]
    setting = settings.SETTINGS.get(name)
    if setting is None or not setting.exists_in(ctx.release):
        raise errors.param_error(f"Config parameter with name {name} doesn't exist")
    scope, scope_id = _scope(ctx, p)
    if "value" not in p:
        return {"configuration": view(ctx, setting, scope, scope_id)}
    if scope is not None and scope != setting.scope:
        raise errors.param_error(f"Invalid scope id provided for the parameter {name}")
    value: str | None = str(p["value"]).strip()
    if value in ("", "null"):
        value = None if scope is None else ""
    if setting.type == "Boolean" and value not in ("true", "false"):
        raise errors.param_error("Please enter either 'true' or 'false'.")
    if setting.type == "Integer" and value is not None:
        try:
            float(value)
        except ValueError:
            raise errors.param_error(f"There was error in trying to parse value: {value}. Please "
                                     f"enter a valid integer value for parameter {name}") from None
    settings.set_value(ctx.store, name, value, scope or "Global", scope_id)
    return {"configuration": view(ctx, setting, scope, scope_id)}
