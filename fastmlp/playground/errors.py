"""The one exception type the playground's model layer raises for anything a user or a request got wrong.

The HTTP layer turns every PlaygroundError into a 400 answer carrying its message, so each message is
written for the person at the browser: it names the field or line and says what would be accepted.
"""
from __future__ import annotations


class PlaygroundError(ValueError):
    """A bad configuration, data file, request value or session id; the message says which and why."""
