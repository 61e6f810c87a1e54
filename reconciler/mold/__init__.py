"""Talking to Mold: signed requests, typed errors, paging, async jobs (see client.py)."""

from reconciler.mold.client import MoldClient, PollPolicy, RetryPolicy

__all__ = ["MoldClient", "PollPolicy", "RetryPolicy"]
