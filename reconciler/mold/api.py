"""The calls the rest of mwin makes on Mold, as a Protocol: MoldClient implements it, and so
do ``scope.Scoped`` and the fakes of unit tests."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Protocol

from reconciler.mold.upload import UploadTicket

__all__ = ["MoldApi"]


class MoldApi(Protocol):
    def call(self, command: str, params: Mapping[str, Any] | None = None) -> dict[str, Any]: ...

    def list_all(self, command: str, item_key: str, params: Mapping[str, Any] | None = None
                 ) -> list[dict[str, Any]]: ...

    def wait_job(self, command: str, jobid: str, *, timeout: float,
                 on_progress: Callable[[dict[str, Any]], None] | None = None,
                 resource_id: str | None = None) -> dict[str, Any]: ...

    def finish_job(self, command: str, answer: Mapping[str, Any], *, timeout: float,
                   on_progress: Callable[[dict[str, Any]], None] | None = None
                   ) -> dict[str, Any]: ...

    def wait_listed(self, command: str, item_key: str, params: Mapping[str, Any], ident: str,
                    check: Callable[[list[dict[str, Any]] | None], Any], *, timeout: float,
                    what: str) -> Any: ...

    def run_job(self, command: str, params: Mapping[str, Any] | None = None, *,
                timeout: float, on_progress: Callable[[dict[str, Any]], None] | None = None
                ) -> dict[str, Any]: ...

    def upload(self, ticket: UploadTicket, path: Path,
               on_progress: Callable[[int, int], None]) -> None: ...
