"""Signature verification (reference §2.3) against fixed vectors and over HTTP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from moldsim import signing
from moldsim.server import MoldSim
from tests.helpers.signing import canonical, signature

from simclient import API_KEY, SECRET_KEY, Client, expires_in

# Korean text, spaces, + * ~ / = &, map names, mixed-case names; as a client would send them.
VECTOR = [
    ("command", "listIsos"), ("apiKey", API_KEY), ("name", "윈도우 서버 2022"),
    ("displayText", "a+b * c~d/e=f&g"), ("details[0].rootDiskController", "scsi"),
    ("details[0].UEFI", "SECURE"), ("response", "json"),
]
# Written by hand from §2.3 (names sorted as sent: "details[0].UEFI" < "details[0].root…"),
# HMACs checked with `openssl dgst -hmac`.
VECTOR_CANONICAL = (
    "apikey=moldsim-admin-key&command=listisos&details[0].uefi=secure"
    "&details[0].rootdiskcontroller=scsi&displaytext=a%2bb%20*%20c%7ed%2fe%3df%26g"
    "&name=%ec%9c%88%eb%8f%84%ec%9a%b0%20%ec%84%9c%eb%b2%84%202022&response=json"
)
VECTOR_SHA256 = "9U7pqxaaZGp2UHs9+K9yCYzbojxdDzrKPCVPx+Ndq4M="
VECTOR_SHA1 = "91xC3pxPlqEwb8dCUEvz/darg80="
NOW = datetime(2025, 2, 12, 1, 0, 0, tzinfo=UTC)


def test_canonical_string_matches_hand_written_vector() -> None:
    assert signing.canonical_string(VECTOR) == VECTOR_CANONICAL
    assert canonical(VECTOR) == VECTOR_CANONICAL


def test_fixed_vectors_for_both_algorithms() -> None:
    assert signing.sign(VECTOR, SECRET_KEY, "sha256") == VECTOR_SHA256
    assert signing.sign(VECTOR, SECRET_KEY, "sha1") == VECTOR_SHA1


def test_verify_accepts_vector_and_rejects_other_algorithm() -> None:
    secrets = {API_KEY: SECRET_KEY}
    assert signing.verify(VECTOR + [("signature", VECTOR_SHA256)], secrets, "sha256", NOW)
    assert not signing.verify(VECTOR + [("signature", VECTOR_SHA1)], secrets, "sha256", NOW)
    assert signing.verify(VECTOR + [("signature", VECTOR_SHA1)], secrets, "sha1", NOW)


def test_only_first_value_of_a_repeated_name_is_signed() -> None:
    doubled = VECTOR + [("name", "other")]
    assert signing.canonical_string(doubled) == VECTOR_CANONICAL


@pytest.mark.parametrize("text, expected", [
    ("2025-02-12T10:11:12+0900", datetime(2025, 2, 12, 1, 11, 12, tzinfo=UTC)),
    ("2025-02-12T10:11:12+09:00", datetime(2025, 2, 12, 1, 11, 12, tzinfo=UTC)),
    ("2025-02-12T01:11:12Z", datetime(2025, 2, 12, 1, 11, 12, tzinfo=UTC)),
    ("2025-02-12T01:11:12.123456Z", datetime(2025, 2, 12, 1, 11, 12, 123456, tzinfo=UTC)),
    ("2025-02-12T01:11:12.123-0100", datetime(2025, 2, 12, 2, 11, 12, 123000, tzinfo=UTC)),
])
def test_expires_formats(text: str, expected: datetime) -> None:
    assert signing.parse_expires(text) == expected


@pytest.mark.parametrize("text", ["2025-02-12", "2025-02-12T01:11:12", "tomorrow", "2025-13-12T01:11:12Z"])
def test_expires_rejected_formats(text: str) -> None:
    assert signing.parse_expires(text) is None


def test_signed_get_and_post_succeed(sim: MoldSim) -> None:
    for post in (False, True):
        with Client(sim.url, post=post) as c:
            zones = c.ok("listZones")
        assert zones["count"] == 1 and zones["zone"][0]["name"] == "Zone1"


def test_vector_params_accepted_over_http(client: Client) -> None:
    resp = client.raw(VECTOR)
    assert resp.status_code == 200
    assert resp.json() == {"listisosresponse": {}}


def _auth_error(resp_json: dict, key: str) -> None:
    assert resp_json == {key: {"uuidList": [], "errorcode": 401,
                               "errortext": "unable to verify user credentials and/or request signature"}}


def test_wrong_secret_is_401(sim: MoldSim) -> None:
    with Client(sim.url, secret="not-the-secret") as c:
        resp = c.raw([("command", "listZones"), ("response", "json"), ("apiKey", API_KEY)])
    assert resp.status_code == 401
    _auth_error(resp.json(), "listzonesresponse")


def test_unknown_key_sha1_signature_and_unknown_command_are_401(client: Client, sim: MoldSim) -> None:
    base = [("response", "json"), ("apiKey", API_KEY)]
    with Client(sim.url, key="nobody") as other:
        resp = other.raw([("command", "listZones"), ("response", "json"), ("apiKey", "nobody")])
    assert resp.status_code == 401
    with Client(sim.url, algo="sha1") as other:
        resp = other.raw([("command", "listZones"), *base])
    assert resp.status_code == 401
    resp = client.raw([("command", "listUnicorns"), *base])
    assert resp.status_code == 401
    _auth_error(resp.json(), "errorresponse")
    resp = client.raw([("command", "listzones"), *base])  # command names are case-sensitive
    assert resp.status_code == 401


def test_unsigned_request_is_401(client: Client) -> None:
    resp = client.raw([("command", "listZones"), ("response", "json"), ("apiKey", API_KEY)], sign=False)
    assert resp.status_code == 401


def test_expired_and_missing_expires_are_401(client: Client) -> None:
    base = [("command", "listZones"), ("response", "json"), ("apiKey", API_KEY)]
    resp = client.raw(base + [("signatureVersion", "3"), ("expires", expires_in(-5))])
    assert resp.status_code == 401
    resp = client.raw(base + [("signatureVersion", "3")])
    assert resp.status_code == 401
    resp = client.raw(base + [("signatureVersion", "3"), ("expires", "soon")])
    assert resp.status_code == 401
    # the v3 parameter name is case-insensitive
    resp = client.raw(base + [("SIGNATUREVERSION", "3"), ("expires", expires_in(-5))])
    assert resp.status_code == 401
    resp = client.raw(base + [("signatureversion", "3"), ("expires", expires_in(60))])
    assert resp.status_code == 200
    # without signatureVersion=3, expires is not checked
    resp = client.raw(base + [("expires", expires_in(-5))])
    assert resp.status_code == 200


def test_tampered_parameter_is_401(client: Client) -> None:
    pairs = [("command", "listIsos"), ("response", "json"), ("apiKey", API_KEY), ("name", "a")]
    sig = signature(pairs, SECRET_KEY)
    resp = client.http.get(client.url, params=[*pairs[:3], ("name", "b"), ("signature", sig)])
    assert resp.status_code == 401


def test_expires_with_millis_and_z_is_accepted(client: Client) -> None:
    later = (datetime.now(UTC) + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"
    pairs = [("command", "listZones"), ("response", "json"), ("apiKey", API_KEY),
             ("signatureVersion", "3"), ("expires", later)]
    resp = client.raw(pairs)
    assert resp.status_code == 200 and resp.json()["listzonesresponse"]["count"] == 1
