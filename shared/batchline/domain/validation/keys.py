"""Which line first used each `key`, in a few bytes per key whatever the keys' length.

A file may hold millions of keys, and a `str` per key costs over 100 bytes. Each key is held
as a fixed-size record instead: its 64-bit hash, the line that first used it, and where to
find that key again. Equal keys have equal hashes, so no duplicate is missed; distinct keys
with one hash (about one chance in 10^7 for a million keys) are told apart by comparing the
keys themselves, read again from where the record says:

- from the file, when the stream is cheap to read again (a local file, bytes in memory): the
  record holds the line's offset, and only a hash that matches costs a read;
- from a compact copy of the key bytes otherwise (a pipe, a Cloud Storage download, where
  seeking back means another download): the record holds where the copy is, and the copy
  costs the key's UTF-8 length plus one byte.
"""

from __future__ import annotations

from collections.abc import Callable
from struct import Struct

# hash (signed, as hash() gives it), first line, where the key can be read again.
_RECORD = Struct("<qQQ")
_pack, _unpack = _RECORD.pack, _RECORD.unpack
_TAIL = Struct("<QQ")
RECORD_BYTES = _RECORD.size
# Records are spread over this many buckets by the low bits of the hash; a bucket is a
# bytes of records searched with bytes.find (C speed, no Python loop per record).
BUCKET_BITS = 16
_MASK = (1 << BUCKET_BITS) - 1
_LONG = 0xFF  # a copied key of this many bytes or more carries a 4-byte length after it

# Reads the key of the line at a byte offset again (None when it no longer has one).
Reread = Callable[[int], object]


class KeyIndex:
    """The first line of every key seen, for duplicate checks; `reread` None keeps copies."""

    __slots__ = ("_buckets", "_copies", "_reread")

    def __init__(self, reread: Reread | None = None) -> None:
        self._buckets: list[bytes | None] = [None] * (1 << BUCKET_BITS)
        self._reread = reread
        self._copies: bytearray | None = None if reread is not None else bytearray()

    def first_use(self, key: str, line: int, offset: int) -> int:
        """The line that first used `key`; `line` itself (now recorded) when it is new.

        `offset` is where `line` starts in the stream (what a later reread is given).
        """
        hashed = hash(key)
        index = hashed & _MASK
        record = _pack(hashed, line, offset if self._reread is not None else self._copy(key))
        bucket = self._buckets[index]
        if bucket is None:
            self._buckets[index] = record
            return line
        found = bucket.find(record[:8])
        while found != -1:
            if found % RECORD_BYTES == 0:
                first, where = _TAIL.unpack_from(bucket, found + 8)
                if self._same(key, where):
                    if self._copies is not None:  # the copy just made is not needed
                        del self._copies[_unpack(record)[2] :]
                    return int(first)
            found = bucket.find(record[:8], found + 1)
        # Immutable and exactly sized: buckets hold a few records each, copying is cheap.
        self._buckets[index] = bucket + record
        return line

    @property
    def count(self) -> int:
        """How many keys are recorded."""
        return sum(len(bucket) for bucket in self._buckets if bucket) // RECORD_BYTES

    def _copy(self, key: str) -> int:
        copies = self._copies
        assert copies is not None
        where = len(copies)
        data = key.encode("utf-8", "surrogatepass")
        if len(data) < _LONG:
            copies.append(len(data))
        else:
            copies.append(_LONG)
            copies += len(data).to_bytes(4, "little")
        copies += data
        return where

    def _same(self, key: str, where: int) -> bool:
        if self._reread is not None:
            return self._reread(where) == key
        copies = self._copies
        assert copies is not None
        size, start = copies[where], where + 1
        if size == _LONG:
            size, start = int.from_bytes(copies[start : start + 4], "little"), start + 4
        return copies[start : start + size] == key.encode("utf-8", "surrogatepass")
