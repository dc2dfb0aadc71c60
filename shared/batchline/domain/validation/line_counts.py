"""What the fast path counted for the estimate while it decoded the line in hand.

The generated types (request_types.py, both families) count as they decode: a part's
`__post_init__` runs for every part anyway, and adds its text's characters, or the MIME type
of its media, here. The stream (stream._validate) takes the counts of each line it accepts
into the file's tally and clears them after every line, so a line refused halfway through a
decode leaves nothing behind. Counting inside the decode costs a fraction of what a second
walk over each decoded request did (bench/validate.py measures what the tally adds).

Per thread: two files validated at once in one instance count apart.
"""

from __future__ import annotations

import threading

__all__ = ["LINE_COUNTS", "LineCounts"]


class LineCounts(threading.local):
    """The counts of the line being decoded in this thread."""

    def __init__(self) -> None:
        # Characters of text: a one-item list, so that the stream fetches it once per file
        # and the decode adds to the same object.
        self.text = [0]
        # The MIME type of each media part (inline or by URI), as the line spells it.
        self.media: list[object] = []

    def clear(self) -> None:
        self.text[0] = 0
        self.media.clear()


LINE_COUNTS = LineCounts()
