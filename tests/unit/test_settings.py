"""Settings: precedence flag > MOLD_* > CLOUDSTACK_* > ~/.cloudstack.ini, and helpful gaps."""

from __future__ import annotations

from pathlib import Path

import pytest
import trustme
from pydantic import SecretStr

from reconciler.errors import SettingsError
from reconciler.mold import MoldClient
from reconciler.settings import Settings, load_settings, shown_url

INI = """
[cloudstack]
endpoint = http://ini-default:8080/client/api
key = ini-key
secret = ini-secret

[lab]
endpoint = https://ini-lab
key = lab-key
secret = lab-secret
signature = sha1
verify = false
"""


@pytest.fixture
def ini(tmp_path: Path) -> Path:
    path = tmp_path / ".cloudstack.ini"
    path.write_text(INI)
    return path


def secrets(s: Settings) -> tuple[str, str, str, str, bool]:
    return (s.url, s.api_key.get_secret_value(), s.secret_key.get_secret_value(), s.signature,
            s.verify_tls)


def test_defaults_come_from_the_cloudstack_section(ini):
    s = load_settings(env={}, ini_path=ini)
    assert secrets(s) == ("http://ini-default:8080/client/api", "ini-key", "ini-secret", "sha256", True)


def test_profile_argument_and_environment_pick_the_section(ini):
    lab = ("https://ini-lab/client/api", "lab-key", "lab-secret", "sha1", False)
    assert secrets(load_settings(profile="lab", env={}, ini_path=ini)) == lab
    assert secrets(load_settings(env={"MOLD_PROFILE": "lab"}, ini_path=ini)) == lab
    assert secrets(load_settings(env={"CLOUDSTACK_REGION": "lab"}, ini_path=ini)) == lab


def test_precedence_is_per_field(ini):
    env = {
        "MOLD_URL": "http://mold-env:8080",
        "CLOUDSTACK_ENDPOINT": "http://cs-env",
        "CLOUDSTACK_KEY": "cs-key",
        "MOLD_SIGNATURE": "SHA1",
    }
    s = load_settings(url="http://flag:9000/client/api", env=env, ini_path=ini)
    # url: flag; key: CLOUDSTACK_*; secret: ini; signature: MOLD_*
    assert secrets(s) == ("http://flag:9000/client/api", "cs-key", "ini-secret", "sha1", True)
    s = load_settings(env=env, ini_path=ini)
    assert s.url == "http://mold-env:8080/client/api"
    s = load_settings(env={**env, "MOLD_API_KEY": "mold-key"}, api_key=None, ini_path=ini)
    assert s.api_key.get_secret_value() == "mold-key"


def test_empty_values_count_as_unset(ini):
    s = load_settings(url="", env={"MOLD_URL": "", "MOLD_API_KEY": " "}, ini_path=ini)
    assert s.url == "http://ini-default:8080/client/api"
    assert s.api_key.get_secret_value() == "ini-key"


def test_tls_verification(ini):
    full = {"MOLD_URL": "https://m", "MOLD_API_KEY": "k", "MOLD_SECRET_KEY": "s"}
    assert load_settings(env=full).verify_tls is True
    assert load_settings(env={**full, "MOLD_INSECURE": "1"}).verify_tls is False
    assert load_settings(env={**full, "MOLD_INSECURE": "0"}).verify_tls is True
    assert load_settings(verify_tls=True, env={**full, "MOLD_INSECURE": "1"}).verify_tls is True
    with pytest.raises(SettingsError, match="MOLD_INSECURE"):
        load_settings(env={**full, "MOLD_INSECURE": "maybe"})


def test_bad_signature_names_its_source():
    with pytest.raises(SettingsError, match="MOLD_SIGNATURE: signature algorithm must be sha256 or sha1"):
        load_settings(env={"MOLD_SIGNATURE": "md5"})


@pytest.mark.parametrize(("given", "expected"), [
    ("http://host:8080", "http://host:8080/client/api"),
    ("http://host:8080/", "http://host:8080/client/api"),
    ("http://host:8080/client/api/", "http://host:8080/client/api"),
    ("https://proxy.example/mold", "https://proxy.example/mold/client/api"),
])
def test_url_gets_the_api_path(given, expected):
    assert Settings(url=given, api_key="k", secret_key="s").url == expected


def test_invalid_url_is_settings_error_without_secrets():
    with pytest.raises(SettingsError) as caught:
        load_settings(url="mold:8080", api_key="AK-123", secret_key="SK-456", env={})
    assert "url" in str(caught.value) and "http://" in str(caught.value)
    assert "AK-123" not in str(caught.value) and "SK-456" not in str(caught.value)


@pytest.mark.parametrize(("given", "problem"), [
    ("http://127.0.0.1:abc/client/api", "the port must be a number from 0 to 65535, as in "
                                        "http://mold:8080/client/api"),
    ("http://127.0.0.1:99999/client/api", "the port must be a number from 0 to 65535, as in "
                                          "http://mold:8080/client/api"),
    ("http://[::1/client/api", "Invalid IPv6 URL"),
    ("http://mo\tld/client/api", "contains a space or a control character"),
])
def test_a_url_that_cannot_be_parsed_names_its_source(given, problem):
    with pytest.raises(SettingsError) as caught:
        load_settings(env={"MOLD_URL": given, "MOLD_API_KEY": "k", "MOLD_SECRET_KEY": "s"})
    assert str(caught.value) == f"invalid Mold settings: MOLD_URL={given}: {problem}"
    with pytest.raises(SettingsError, match=r"^invalid Mold settings: --url "):
        load_settings(url=given, api_key="k", secret_key="s", env={})


def test_the_client_turns_a_url_httpx_refuses_into_a_settings_error():
    """A URL that passes Settings' check but not httpx's (built around the check here)."""
    unchecked = Settings.model_construct(url="http://mo\tld/client/api",
                                         api_key=SecretStr("k"), secret_key=SecretStr("s"))
    with pytest.raises(SettingsError, match=r"^the Mold API URL \(--url or MOLD_URL\) is not a "
                                            "valid URL: Invalid non-printable ASCII character"):
        MoldClient(unchecked)


def test_everything_missing_names_every_way(tmp_path):
    absent = tmp_path / "none.ini"
    with pytest.raises(SettingsError) as caught:
        load_settings(env={}, ini_path=absent)
    message = str(caught.value)
    assert "missing Mold API URL, API key, secret key" in message
    for way in ("--url", "MOLD_URL", "CLOUDSTACK_ENDPOINT", "`endpoint =`",
                "--api-key", "MOLD_API_KEY", "CLOUDSTACK_KEY", "`key =`",
                "--secret-key", "MOLD_SECRET_KEY", "CLOUDSTACK_SECRET", "`secret =`",
                f"[cloudstack] of {absent}", "file not found"):
        assert way in message


def test_only_the_missing_field_is_named(ini):
    with pytest.raises(SettingsError) as caught:
        load_settings(profile="nope", env={"MOLD_URL": "http://m", "MOLD_API_KEY": "AK-123"},
                      ini_path=ini)
    message = str(caught.value)
    assert "missing secret key." in message
    assert "MOLD_URL" not in message and "AK-123" not in message
    assert "no section [nope]" in message


def test_unreadable_ini_matters_only_when_something_is_missing(tmp_path):
    broken = tmp_path / "broken.ini"
    broken.write_text("this is [not an ini")
    env = {"MOLD_URL": "http://m", "MOLD_API_KEY": "k", "MOLD_SECRET_KEY": "s"}
    assert load_settings(env=env, ini_path=broken).url == "http://m/client/api"
    with pytest.raises(SettingsError, match=r"broken.ini: cannot read it \(MissingSectionHeaderError\)"):
        load_settings(env={}, ini_path=broken)


def test_default_ini_is_under_home_from_env(tmp_path):
    (tmp_path / ".cloudstack.ini").write_text(INI)
    assert load_settings(env={"HOME": str(tmp_path)}).url == "http://ini-default:8080/client/api"


def test_repr_hides_keys():
    s = Settings(url="http://m", api_key="AK-123", secret_key="SK-456")
    assert "AK-123" not in repr(s) and "SK-456" not in repr(s) and "SK-456" not in str(s)


def test_a_urls_userinfo_is_never_shown():
    s = Settings(url="http://ops:pw-789@mold:8080", api_key="k", secret_key="s")
    assert s.url == "http://ops:pw-789@mold:8080/client/api"  # sent as it is
    assert "pw-789" not in repr(s) and "ops" not in repr(s) and "***@mold:8080" in repr(s)
    assert "pw-789" not in repr(MoldClient(s))
    for env in ({"MOLD_URL": "ftp://ops:pw-789@mold"}, {"MOLD_URL": "ops:pw-789@mold:8080"},
                {"MOLD_URL": "http://ops:pw-789@mold:x/client/api"}):
        with pytest.raises(SettingsError) as caught:
            load_settings(env={**env, "MOLD_API_KEY": "k", "MOLD_SECRET_KEY": "s"})
        assert "pw-789" not in str(caught.value) and "ops" not in str(caught.value)
        assert "MOLD_URL=" in str(caught.value) and "***@mold" in str(caught.value)


@pytest.mark.parametrize(("url", "shown"), [
    ("http://ops:pw@mold:8080/client/api", "http://***@mold:8080/client/api"),
    ("https://ops@mold/client/api", "https://***@mold/client/api"),
    ("ops:pw@mold:8080", "***@mold:8080"),
    ("http://mold/p@th?q=a@b", "http://***@b"),  # ambiguous: more is masked, never less
    ("https://admin:s3cr#et@mold:8080/client/api", "https://***@mold:8080/client/api"),
    ("https://admin:s3/cr?et@mold:8080/client/api", "https://***@mold:8080/client/api"),
    ("https://admin:a@b@mold:1/client/api", "https://***@mold:1/client/api"),
    ("https://mold:8443/client/api", "https://mold:8443/client/api"),
])
def test_shown_url(url, shown):
    assert shown_url(url) == shown


@pytest.fixture
def ca_pem(tmp_path: Path) -> Path:
    path = tmp_path / "ca.pem"
    trustme.CA().cert_pem.write_to_path(str(path))
    return path


def test_ca_bundle_and_http_timeout_from_the_environment(tmp_path, ca_pem):
    bundle = ca_pem
    env = {"MOLD_URL": "https://mold.example/client/api", "MOLD_API_KEY": "k",
           "MOLD_SECRET_KEY": "s", "MOLD_CA_BUNDLE": str(bundle), "MOLD_HTTP_TIMEOUT": "2.5"}
    settings = load_settings(env=env, ini_path=tmp_path / "none.ini")
    assert settings.ca_bundle == str(bundle) and settings.timeout == 2.5
    with pytest.raises(SettingsError, match="MOLD_HTTP_TIMEOUT: expected seconds"):
        load_settings(env={**env, "MOLD_HTTP_TIMEOUT": "soon"}, ini_path=tmp_path / "none.ini")
    with pytest.raises(SettingsError, match="MOLD_CA_BUNDLE: cannot read the CA bundle"):
        load_settings(env={**env, "MOLD_CA_BUNDLE": str(tmp_path / "gone.pem")},
                      ini_path=tmp_path / "none.ini")


KEYS = {"MOLD_URL": "https://mold.example/client/api", "MOLD_API_KEY": "AK-123",
        "MOLD_SECRET_KEY": "SK-456"}


def test_ca_bundle_precedence_flag_env_ini(tmp_path, ca_pem, monkeypatch):
    other = tmp_path / "other.pem"
    other.write_bytes(ca_pem.read_bytes())
    home = tmp_path / "home"
    home.mkdir()
    (home / "ini.pem").write_bytes(ca_pem.read_bytes())
    ini = tmp_path / "cs.ini"
    ini.write_text("[cloudstack]\nca_bundle = ~/ini.pem\n")
    monkeypatch.setenv("HOME", str(home))  # ~ in a bundle path expands like a shell would
    env = {**KEYS, "MOLD_CA_BUNDLE": str(other)}
    assert load_settings(ca_bundle=str(ca_pem), env=env, ini_path=ini).ca_bundle == str(ca_pem)
    assert load_settings(env=env, ini_path=ini).ca_bundle == str(other)
    assert load_settings(env=KEYS, ini_path=ini).ca_bundle == str(home / "ini.pem")
    assert load_settings(env=KEYS, ini_path=tmp_path / "none.ini").ca_bundle is None


def test_other_tools_ca_variables_are_not_a_ca_bundle(tmp_path, ca_pem):
    # REQUESTS_CA_BUNDLE is python-requests' own; SSL_CERT_FILE only moves the default store.
    env = {**KEYS, "REQUESTS_CA_BUNDLE": str(ca_pem), "SSL_CERT_FILE": str(ca_pem)}
    settings = load_settings(env=env, ini_path=tmp_path / "none.ini")
    assert settings.ca_bundle is None and settings.verify_tls is True
    # ...so they cannot clash with --insecure either
    assert load_settings(verify_tls=False, env=env, ini_path=tmp_path / "none.ini").verify_tls is False


def test_bad_ca_bundle_names_the_file_and_where_it_came_from(tmp_path):
    gone, junk, empty = tmp_path / "gone.pem", tmp_path / "junk.pem", tmp_path / "empty.pem"
    junk.write_text("-----BEGIN CERTIFICATE-----\nnot base64\n")
    empty.write_bytes(b"")
    none = tmp_path / "none.ini"
    cases = [
        ({"ca_bundle": str(gone)}, KEYS, f"--ca-bundle: cannot read the CA bundle {gone}: "
                                         "No such file or directory"),
        ({}, {**KEYS, "MOLD_CA_BUNDLE": str(gone)},
         f"MOLD_CA_BUNDLE: cannot read the CA bundle {gone}: No such file or directory"),
        ({"ca_bundle": str(tmp_path)}, KEYS,
         f"--ca-bundle: cannot read the CA bundle {tmp_path}: Is a directory"),
        ({"ca_bundle": str(junk)}, KEYS,
         f"--ca-bundle: the CA bundle {junk} holds no usable PEM certificate"),
        ({}, {**KEYS, "MOLD_CA_BUNDLE": str(empty)},
         f"MOLD_CA_BUNDLE: the CA bundle {empty} holds no usable PEM certificate"),
    ]
    for args, env, expected in cases:
        with pytest.raises(SettingsError) as caught:
            load_settings(**args, env=env, ini_path=none)
        assert str(caught.value).startswith(expected), str(caught.value)
    ini = tmp_path / "cs.ini"
    ini.write_text(f"[lab]\nca_bundle = {gone}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(profile="lab", env=KEYS, ini_path=ini)
    assert str(caught.value) == (f"{ini} [lab]: cannot read the CA bundle {gone}: "
                                 "No such file or directory")


def test_insecure_and_a_ca_bundle_is_an_error_naming_both(tmp_path, ca_pem):
    none = tmp_path / "none.ini"
    with pytest.raises(SettingsError) as caught:
        load_settings(verify_tls=False, ca_bundle=str(ca_pem), env=KEYS, ini_path=none)
    assert str(caught.value) == (
        f"--insecure turns TLS verification off, but --ca-bundle {ca_pem} names a CA bundle to "
        "verify against: choose one (keep the CA bundle, or skip verification with --insecure)")
    with pytest.raises(SettingsError, match=f"^MOLD_INSECURE=1 turns .* but MOLD_CA_BUNDLE={ca_pem} "):
        load_settings(env={**KEYS, "MOLD_INSECURE": "1", "MOLD_CA_BUNDLE": str(ca_pem)},
                      ini_path=none)
    ini = tmp_path / "cs.ini"
    ini.write_text(f"[cloudstack]\nverify = false\nca_bundle = {ca_pem}\n")
    with pytest.raises(SettingsError) as caught:
        load_settings(env=KEYS, ini_path=ini)
    message = str(caught.value)
    assert message.startswith(f"`verify = false` in {ini} [cloudstack] turns TLS verification "
                              f"off, but `ca_bundle = {ca_pem}` in {ini} [cloudstack] names")
    assert "AK-123" not in message and "SK-456" not in message
    # a lower source of either no longer counts once a higher one decides: MOLD_INSECURE=0 wins
    s = load_settings(env={**KEYS, "MOLD_INSECURE": "0"}, ini_path=ini)
    assert (s.verify_tls, s.ca_bundle) == (True, str(ca_pem))
