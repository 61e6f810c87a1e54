"""Talking to Mold: signed requests, typed errors, paging, async jobs (see client.py), the
one poller every wait uses (poll.py) and project scopes (scope.py)."""

from reconciler.mold.client import MoldClient, RetryPolicy, narrate_jobs
from reconciler.mold.poll import Clock, Deadline, PollPolicy, poll_until

__all__ = ["MoldClient", "PollPolicy", "RetryPolicy", "Clock", "Deadline", "poll_until",
           "narrate_jobs"]
