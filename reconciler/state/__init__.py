"""State: what mwin recorded about the objects it manages (ids and last attributes)."""

from reconciler.state.base import FORMAT_VERSION, ResourceState, State, StateBackend
from reconciler.state.local import LocalState

__all__ = ["FORMAT_VERSION", "ResourceState", "State", "StateBackend", "LocalState"]
