"""State: what mwin recorded about the objects it manages (ids and last attributes).

Backends: ``LocalState`` (a JSON file) and ``reconciler.state.postgres.PostgresState``
(imported on demand, so psycopg loads only when a PostgreSQL backend is used).
"""

from reconciler.state.base import (
    DEFAULT_WORKSPACE,
    FORMAT_VERSION,
    ResourceState,
    State,
    StateBackend,
    derive_owner,
    with_owner,
)
from reconciler.state.local import LocalState
from reconciler.state.select import current_workspace, open_backend, push_state, select_workspace

__all__ = ["DEFAULT_WORKSPACE", "FORMAT_VERSION", "ResourceState", "State", "StateBackend",
           "derive_owner", "with_owner",
           "LocalState", "current_workspace", "open_backend", "push_state", "select_workspace"]
