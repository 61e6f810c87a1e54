"""A tiny signed client for moldsim tests, written independently of moldsim's own code.

Signing is tests/helpers/signing.py, written from reference §2.3 and shared with no code of
moldsim's, so a signing bug in moldsim cannot hide behind shared code.
"""

from __future__ import annotations

import ssl
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from tests.helpers.signing import signature

API_KEY = "moldsim-admin-key"
SECRET_KEY = "moldsim-admin-secret"


def expires_in(seconds: float) -> str:
    return (datetime.now(UTC) + timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S%z")


class Client:
    """Signed calls over httpx; returns (status, inner object) or raises on nothing."""

    def __init__(self, url: str, key: str = API_KEY, secret: str = SECRET_KEY,
                 algo: str = "sha256", post: bool = False,
                 verify: ssl.SSLContext | bool = True) -> None:
        self.url, self.key, self.secret, self.algo, self.post = url, key, secret, algo, post
        self.http = httpx.Client(timeout=10, verify=verify)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def raw(self, params: list[tuple[str, str]], sign: bool = True) -> httpx.Response:
        pairs = list(params)
        if sign:
            pairs.append(("signature", signature(pairs, self.secret, self.algo)))
        if self.post:
            return self.http.post(self.url, data=dict(pairs))
        return self.http.get(self.url, params=pairs)

    def request(self, command: str, **params: Any) -> httpx.Response:
        """Signed v3 call, the HTTP response as it came; values are stringified (bools as
        true/false)."""
        pairs = [("command", command), ("response", "json"), ("apiKey", self.key),
                 ("signatureVersion", "3"), ("expires", expires_in(300))]
        for k, v in params.items():
            pairs.append((k, str(v).lower() if isinstance(v, bool) else str(v)))
        return self.raw(pairs)

    def call(self, command: str, **params: Any) -> tuple[int, dict[str, Any]]:
        """Signed v3 call: (HTTP status, the object inside the response envelope)."""
        resp = self.request(command, **params)
        doc = resp.json()
        [(_, inner)] = doc.items()
        return resp.status_code, inner

    def ok(self, command: str, **params: Any) -> dict[str, Any]:
        status, inner = self.call(command, **params)
        assert status == 200, (command, status, inner)
        return inner

    def wait_job(self, jobid: str, timeout: float = 10.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            job = self.ok("queryAsyncJobResult", jobid=jobid)
            if job["jobstatus"] != 0:
                return job
            assert time.monotonic() < deadline, f"job {jobid} still pending"
            time.sleep(0.02)

    def first(self, command: str, key: str, **params: Any) -> dict[str, Any]:
        items = self.ok(command, **params).get(key, [])
        assert items, (command, params)
        return items[0]

    def zone_id(self) -> str:
        return self.first("listZones", "zone")["id"]

    def os_type_id(self, name: str) -> str:
        items = self.ok("listOsTypes", description=name)["ostype"]
        return next(o["id"] for o in items if o.get("name", o["description"]) == name)

    def register_iso(self, name: str, url: str | None = None, **params: Any) -> dict[str, Any]:
        params.setdefault("zoneid", self.zone_id())
        if params.get("bootable", True) and "ostypeid" not in params:
            params["ostypeid"] = self.os_type_id("Windows PV")
        resp = self.ok("registerIso", name=name, url=url or f"http://images.test/{name}.iso", **params)
        iso: dict[str, Any] = resp["iso"][0]
        return iso


class Workflow(Client):
    """Client plus the steps of the Windows template workflow, for VM/template tests."""

    def offering(self, command: str, key: str, name: str) -> str:
        return self.first(command, key, name=name)["id"]

    def network(self, name: str = "prep-net", **params: Any) -> dict[str, Any]:
        offering = self.offering("listNetworkOfferings", "networkoffering",
                                 "DefaultIsolatedNetworkOfferingWithSourceNatService")
        params.setdefault("zoneid", self.zone_id())
        net: dict[str, Any] = self.ok("createNetwork", name=name, networkofferingid=offering,
                                      **params)["network"]
        return net

    def ready_iso(self, name: str, **params: Any) -> dict[str, Any]:
        iso = self.register_iso(name, **params)
        deadline = time.monotonic() + 10
        while not self.first("listIsos", "iso", isofilter="self", id=iso["id"])["isready"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return iso

    def deploy_params(self, iso_id: str, net_id: str, **params: Any) -> dict[str, Any]:
        base = {"zoneid": self.zone_id(), "templateid": iso_id, "hypervisor": "KVM",
                "serviceofferingid": self.offering("listServiceOfferings", "serviceoffering", "4vCore-8GB"),
                "diskofferingid": self.offering("listDiskOfferings", "diskoffering", "100GB"),
                "networkids": net_id, "name": "win-master", "boottype": "UEFI", "bootmode": "SECURE",
                "tpmversion": "V2_0"}
        base.update(params)
        return {k: v for k, v in base.items() if v is not None}

    def deploy(self, iso_id: str, net_id: str, **params: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Deploy and wait; returns (the immediate answer, the finished job)."""
        answer = self.ok("deployVirtualMachine", **self.deploy_params(iso_id, net_id, **params))
        return answer, self.wait_job(answer["jobid"])

    def vm(self, vm_id: str) -> dict[str, Any]:
        return self.first("listVirtualMachines", "virtualmachine", id=vm_id)

    def run_job(self, command: str, **params: Any) -> dict[str, Any]:
        return self.wait_job(self.ok(command, **params)["jobid"])

    def ready_template(self, name: str, **params: Any) -> dict[str, Any]:
        """A template made from a stopped VM's ROOT volume (VM, ISO and network named after
        it), ready in the first zone; `params` go to createTemplate."""
        iso = self.ready_iso(f"{name}-iso")
        answer, _ = self.deploy(iso["id"], self.network(f"{name}-net")["id"], name=f"{name}-vm")
        self.run_job("stopVirtualMachine", id=answer["id"])
        root = self.first("listVolumes", "volume", virtualmachineid=answer["id"], type="ROOT")
        params.setdefault("ostypeid", self.os_type_id("Windows PV"))
        job = self.wait_job(self.ok("createTemplate", volumeid=root["id"], name=name, **params)["jobid"])
        tpl: dict[str, Any] = job["jobresult"]["template"]
        deadline = time.monotonic() + 10
        while not self.first("listTemplates", "template", templatefilter="self", id=tpl["id"])["isready"]:
            assert time.monotonic() < deadline
            time.sleep(0.02)
        return tpl


# Account types of createAccount (Account.Type ordinal): user, root admin, domain admin.
USER, ROOT_ADMIN, DOMAIN_ADMIN = 0, 1, 2


def create_domain(admin: Client, name: str, parent: str | None = None) -> dict[str, Any]:
    params = {"name": name}
    if parent:
        params["parentdomainid"] = parent
    domain: dict[str, Any] = admin.ok("createDomain", **params)["domain"]
    return domain


def create_account(admin: Client, username: str, accounttype: int = USER,
                   domainid: str | None = None, **params: Any) -> dict[str, Any]:
    """createAccount (its first user has the same name); returns the account object."""
    base = {"username": username, "email": f"{username}@example.test", "firstname": username,
            "lastname": "Tester", "password": "secret", "accounttype": accounttype}
    if domainid:
        base["domainid"] = domainid
    base.update(params)
    account: dict[str, Any] = admin.ok("createAccount", **base)["account"]
    return account


def keys_for(admin: Client, user_id: str) -> tuple[str, str]:
    keys = admin.ok("registerUserKeys", id=user_id)["userkeys"]
    return keys["apikey"], keys["secretkey"]


def as_user(admin: Client, username: str, accounttype: int = USER, domainid: str | None = None,
            **params: Any) -> tuple[Any, dict[str, Any]]:
    """A new account with one user and API keys; returns (a client of admin's class signing
    with that user's keys, the account object)."""
    account = create_account(admin, username, accounttype, domainid, **params)
    key, secret = keys_for(admin, account["user"][0]["id"])
    return type(admin)(admin.url, key=key, secret=secret, algo=admin.algo), account
