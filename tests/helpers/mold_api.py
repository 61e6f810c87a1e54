"""An outside view of Mold for end-to-end tests: signed calls written from the reference
(tests/helpers/signing.py), sharing no code with mwin's client or moldsim's verifier."""

from __future__ import annotations

from typing import Any

import httpx

from tests.helpers.signing import signature

API_KEY = "moldsim-admin-key"
SECRET_KEY = "moldsim-admin-secret"


class MoldApi:
    def __init__(self, url: str, key: str = API_KEY, secret: str = SECRET_KEY,
                 algo: str = "sha256") -> None:
        self.url = url
        self.key = key
        self.secret = secret
        self.algo = algo
        self.http = httpx.Client(timeout=10)

    def call(self, command: str, **params: Any) -> dict[str, Any]:
        """Return the inner response object; raise AssertionError on an error envelope."""
        pairs = {"command": command, "response": "json", "apikey": self.key}
        pairs.update({k: _text(v) for k, v in params.items() if v is not None})
        pairs["signature"] = signature(list(pairs.items()), self.secret, self.algo)
        response = self.http.post(self.url, data=pairs)
        body = response.json()
        inner = body.get(f"{command.lower()}response", body.get("errorresponse", {}))
        if response.status_code != 200 or "errorcode" in inner:
            raise AssertionError(f"{command} failed: {response.status_code} {inner}")
        return inner

    def items(self, command: str, key: str, **params: Any) -> list[dict[str, Any]]:
        return list(self.call(command, **params).get(key, []))

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> MoldApi:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


# Account types of createAccount (Account.Type ordinal).
USER, DOMAIN_ADMIN = 0, 2


def new_account(admin: MoldApi, username: str, accounttype: int = USER,
                domainid: str | None = None) -> tuple[str, str, dict[str, Any]]:
    """A new account (Mold's createAccount, registerUserKeys, called by ``admin``); returns its
    user's API key and secret key and the account object."""
    account = admin.call("createAccount", username=username, email=f"{username}@example.test",
                         firstname=username, lastname="Operator", password="not-used",
                         accounttype=accounttype, domainid=domainid)["account"]
    keys = admin.call("registerUserKeys", id=account["user"][0]["id"])["userkeys"]
    return keys["apikey"], keys["secretkey"], account


def set_account_setting(admin: MoldApi, name: str, value: Any, account_id: str) -> None:
    admin.call("updateConfiguration", name=name, value=value, accountid=account_id)
