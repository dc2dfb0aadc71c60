"""What a failure means for the event that caused it.

A TransientError (or any error not classified) propagates out of the handler so the
platform redelivers the event; a PermanentError is reported and the event acknowledged,
because delivering it again cannot help.
"""

from __future__ import annotations


class BatchlineError(Exception):
    """Base of the errors Batchline raises on purpose."""


class TransientError(BatchlineError):
    """Try again later: quota, unavailability, a race that a retry resolves."""


class PermanentError(BatchlineError):
    """Retrying cannot help: a bad file, an unknown model, a malformed event."""
