"""Which backend and workspace a command uses; passwords never shown."""

from __future__ import annotations

from pathlib import Path

import pytest

from reconciler.errors import StateError
from reconciler.state import LocalState, State, current_workspace, open_backend, select_workspace
from reconciler.state.postgres import PostgresState
from reconciler.state.select import backend_url, mask_url


@pytest.mark.parametrize("url, masked", [
    ("postgres://u:secret@h:5/db?sslmode=require&password=x",
     "postgres://u:***@h:5/db?sslmode=require&password=***"),
    ("postgresql:///db?host=/run/postgresql", "postgresql:///db?host=/run/postgresql"),
    ("postgres://u:p%40ss@h/db", "postgres://u:***@h/db"),
    ("postgres://u@h/db?Password=zz&a=1", "postgres://u@h/db?Password=***&a=1"),
    ("host=h password=pw dbname=d", "host=h password=*** dbname=d"),
])
def test_passwords_are_masked(url: str, masked: str) -> None:
    assert mask_url(url) == masked


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MWIN_BACKEND", raising=False)
    monkeypatch.delenv("MWIN_WORKSPACE", raising=False)


def test_option_then_env_then_config_then_the_local_file(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert backend_url(None, tmp_path) is None
    (tmp_path / ".mwin").mkdir()
    (tmp_path / ".mwin" / "config.yaml").write_text("backend:\n  url: postgres://cfg/db\n")
    assert backend_url(None, tmp_path) == "postgres://cfg/db"
    monkeypatch.setenv("MWIN_BACKEND", "postgres://env/db")
    assert backend_url(None, tmp_path) == "postgres://env/db"
    assert backend_url("postgres://opt/db", tmp_path) == "postgres://opt/db"
    assert backend_url("local", tmp_path) is None
    (tmp_path / ".mwin" / "config.yaml").write_text("backend: local\n")
    monkeypatch.delenv("MWIN_BACKEND")
    assert backend_url(None, tmp_path) is None
    (tmp_path / ".mwin" / "config.yaml").write_text("other: 1\n")
    assert backend_url(None, tmp_path) is None


def test_config_file_refuses_passwords_and_nonsense(tmp_path: Path) -> None:
    config = tmp_path / ".mwin" / "config.yaml"
    config.parent.mkdir()
    config.write_text("backend: postgres://u:hunter2@h/db\n")
    with pytest.raises(StateError) as caught:
        backend_url(None, tmp_path)
    assert "hunter2" not in str(caught.value) and "PGPASSFILE" in str(caught.value)
    config.write_text("backend: [1]\n")
    with pytest.raises(StateError, match="backend must be a URL or a mapping with url"):
        backend_url(None, tmp_path)
    config.write_text("backend: {url: [\n")
    with pytest.raises(StateError, match="cannot be read"):
        backend_url(None, tmp_path)


def test_open_backend_picks_the_class_and_refuses_unknown_schemes(tmp_path: Path) -> None:
    local = open_backend(tmp_path / "s.json", None, None, base=tmp_path)
    assert isinstance(local, LocalState) and local.workspace == "default"
    remote = open_backend(tmp_path / "s.json", "postgres://u:pw@h/db", "zone-a", base=tmp_path)
    assert isinstance(remote, PostgresState)
    assert remote.describe() == "postgres://u:***@h/db (workspace zone-a)"
    with pytest.raises(StateError) as caught:
        open_backend(tmp_path / "s.json", "mysql://u:pw@h/db", None, base=tmp_path)
    assert str(caught.value).startswith("unknown state backend 'mysql://u:***@h/db'")
    with pytest.raises(StateError, match="is not a valid PostgreSQL URL"):
        PostgresState("postgres://h/db?nonsense=1")


def test_workspace_option_then_env_then_selection_then_default(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert current_workspace(None, tmp_path) == "default"
    assert select_workspace("zone-a", tmp_path) == tmp_path / ".mwin" / "workspace"
    assert current_workspace(None, tmp_path) == "zone-a"
    monkeypatch.setenv("MWIN_WORKSPACE", "zone-b")
    assert current_workspace(None, tmp_path) == "zone-b"
    assert current_workspace("zone-c", tmp_path) == "zone-c"
    with pytest.raises(StateError, match="is not a workspace name"):
        select_workspace("a/b", tmp_path)


def test_local_workspaces_live_beside_the_default_file(tmp_path: Path) -> None:
    default = LocalState(tmp_path / "state" / "mwin.state.json")
    zone = LocalState(tmp_path / "state" / "mwin.state.json", "zone-a")
    assert zone.path == tmp_path / "state" / "mwin.state.d" / "zone-a.json"
    zone.write(zone.write(State()))
    assert zone.backup.exists() and default.workspaces() == ["default", "zone-a"]
    assert not default.path.exists()
