"""Which default role may call which command: Mold's default role permissions, as data.

Source (jeongda-young/ablestack-cloud, Mold "Diplo"; docs/moldsim.md "Roles"):
- engine/schema/src/main/resources/META-INF/db/create-default-role-api-mappings.sql: role 1
  (Root Admin) gets '*' ALLOW; roles 2 (Resource Admin), 3 (Domain Admin) and 4 (User) get one
  ALLOW row per API. schema-41610to41700.sql adds listConfigurations and updateConfiguration
  for role 3.
- plugins/acl/dynamic-role-based/.../DynamicRoleBasedAPIAccessChecker.checkApiPermissionByRole:
  the first matching rule decides; with no rule, the `@APICommand(authorized = {...})` role
  types of the command decide; role id 1 of type Admin may call everything.
The table covers every command moldsim serves: (roles with an ALLOW row, annotated role types).
getUploadParamsForIso: its @APICommand names all four role types (GetUploadParamsForIsoCmd);
its ALLOW rows (added after 4.13) were not read and are taken as roles 2-4. listClusters:
root admins only here (its rows for Resource Admin were not read; such accounts cannot be made).
"""

from __future__ import annotations

ADMIN, RESOURCE_ADMIN, DOMAIN_ADMIN, USER = "Admin", "ResourceAdmin", "DomainAdmin", "User"

# command → (ids of default roles 2..4 with an ALLOW row, role types of @APICommand(authorized))
DEFAULT_RULES: dict[str, tuple[str, tuple[str, ...]]] = {
    "addAccountToProject": ("234", ()),
    "addNicToVirtualMachine": ("234", ()),
    "attachIso": ("234", ()),
    "changeServiceForVirtualMachine": ("234", ()),
    "copyTemplate": ("234", ()),
    "createAccount": ("23", ()),
    # CreateConsoleEndpointCmd: @APICommand(authorized = {Admin, ResourceAdmin, DomainAdmin,
    # User}) since 4.18, no default role rows
    "createConsoleEndpoint": ("", ('Admin', 'ResourceAdmin', 'DomainAdmin', 'User')),
    "createDomain": ("", ('Admin', 'DomainAdmin')),
    "createNetwork": ("234", ()),
    "createProject": ("234", ()),
    "createTags": ("234", ()),
    "createTemplate": ("234", ()),
    "createVMSnapshot": ("234", ()),
    "deleteIso": ("234", ()),
    "deleteNetwork": ("234", ()),
    "deleteProject": ("234", ()),
    "deleteTags": ("234", ()),
    "deleteTemplate": ("234", ()),
    "deleteVMSnapshot": ("234", ()),
    "deployVirtualMachine": ("234", ()),
    "destroyVirtualMachine": ("234", ()),
    "detachIso": ("234", ()),
    "expungeVirtualMachine": ("234", ()),
    "getApiLimit": ("234", ()),
    "getUploadParamsForIso": ("234", ('Admin', 'ResourceAdmin', 'DomainAdmin', 'User')),
    "getUserKeys": ("", ('Admin', 'ResourceAdmin', 'DomainAdmin', 'User')),
    "listAccounts": ("234", ()),
    "listApis": ("234", ('Admin', 'ResourceAdmin', 'DomainAdmin', 'User')),
    "listAsyncJobs": ("234", ()),
    "listConfigurations": ("3", ()),
    "listClusters": ("", ('Admin',)),
    "listDiskOfferings": ("234", ()),
    "listDomains": ("23", ()),
    "listHypervisors": ("234", ()),
    "listIsoPermissions": ("234", ()),
    "listIsos": ("234", ()),
    "listNetworkOfferings": ("234", ()),
    "listNetworks": ("234", ()),
    "listOsCategories": ("234", ()),
    "listOsTypes": ("234", ()),
    "listProjects": ("234", ()),
    "listRoles": ("", ('Admin', 'ResourceAdmin', 'DomainAdmin')),
    "listServiceOfferings": ("234", ()),
    "listTags": ("234", ()),
    "listTemplatePermissions": ("234", ()),
    "listTemplates": ("234", ()),
    "listUsers": ("234", ()),
    "listVirtualMachines": ("234", ()),
    "listVMSnapshot": ("234", ()),
    "listVolumes": ("234", ()),
    "listZones": ("234", ()),
    "queryAsyncJobResult": ("234", ()),
    "recoverVirtualMachine": ("234", ()),
    "registerIso": ("234", ()),
    "registerUserKeys": ("234", ()),
    "removeNicFromVirtualMachine": ("234", ()),
    "resetApiLimit": ("", ()),
    "startVirtualMachine": ("234", ()),
    "stopVirtualMachine": ("234", ()),
    "updateConfiguration": ("3", ()),
    "updateDefaultNicForVirtualMachine": ("234", ()),
    "updateIso": ("234", ()),
    "updateIsoPermissions": ("234", ()),
    "updateNetwork": ("234", ()),
    "updateTemplate": ("234", ()),
    "updateTemplatePermissions": ("234", ()),
    "updateVirtualMachine": ("234", ()),
}

# @Parameter(authorized = {RoleType.Admin}) of the commands moldsim serves (the class the API
# discovery registers: the *ByAdmin one where there is one). listApis drops these parameters
# for callers whose account type is not ADMIN (ApiDiscoveryServiceImpl
# .getApiDiscoveryResponseWithAccessibleParams); binding does not check them.
ADMIN_ONLY_PARAMS: dict[str, frozenset[str]] = {
    "deployVirtualMachine": frozenset({"displayvm", "deploymentplanner"}),
    "listVirtualMachines": frozenset({"displayvm"}),
    "updateVirtualMachine": frozenset({"displayvm", "instancename", "extraconfig", "customid"}),
    "startVirtualMachine": frozenset({"considerlasthost", "deploymentplanner"}),
    "listOsTypes": frozenset({"fordisplay"}),
    "createNetwork": frozenset({"displaynetwork"}),
    "listNetworks": frozenset({"displaynetwork"}),
    "listVolumes": frozenset({"clusterid", "storageid", "displayvolume", "listsystemvms",
                              "isencrypted"}),
}


def role_allows(role_n: int, role_type: str, command: str) -> bool:
    """DynamicRoleBasedAPIAccessChecker for the seeded default roles (ids 1..4)."""
    if role_n == 1 and role_type == ADMIN:
        return True
    rows, annotated = DEFAULT_RULES.get(command, ("", ()))
    if str(role_n) in rows:
        return True
    return role_type in annotated
