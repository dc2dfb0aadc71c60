"""Sets of input line numbers as growable bitsets: 25 kB for 200,000 lines, where a set of
ints takes megabytes. What a job's rows are checked against (seen, expected, missing)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

__all__ = ["LineSet", "numbers_of"]


class LineSet:
    """A growable bitset of line numbers: 25 kB for 200,000 lines, where a set takes MBs."""

    __slots__ = ("_bits",)

    def __init__(self) -> None:
        self._bits = bytearray()

    def add(self, number: int) -> bool:
        """Add `number`; False when it was already there."""
        byte, bit = divmod(number, 8)
        bits = self._bits
        if byte >= len(bits):
            bits.extend(bytes(byte - len(bits) + 1 + len(bits) // 2))
        mask = 1 << bit
        if bits[byte] & mask:
            return False
        bits[byte] |= mask
        return True

    def __contains__(self, number: int) -> bool:
        byte, bit = divmod(number, 8)
        return byte < len(self._bits) and bool(self._bits[byte] & (1 << bit))

    def as_int(self) -> int:
        return int.from_bytes(self._bits, "little")

    def __len__(self) -> int:
        return self.as_int().bit_count()

    def numbers(self) -> Iterator[int]:
        """The line numbers in the set, ascending."""
        return numbers_of(self.as_int())

    @classmethod
    def of(cls, numbers: Iterable[int]) -> LineSet:
        line_set = cls()
        if isinstance(numbers, range) and numbers.step == 1 and len(numbers) > 0:
            # A part's lines are a range: set its bits in one go.
            if numbers.start < 0:
                raise ValueError("line numbers are positive")
            bits = ((1 << numbers.stop) - 1) ^ ((1 << numbers.start) - 1)
            line_set._bits = bytearray(bits.to_bytes((numbers.stop + 7) // 8, "little"))
            return line_set
        for number in numbers:
            line_set.add(number)
        return line_set


def numbers_of(bits: int) -> Iterator[int]:
    """The numbers whose bits are set in `bits`, ascending."""
    data = bits.to_bytes((bits.bit_length() + 7) // 8, "little")
    for byte_index, byte in enumerate(data):
        if byte:
            for bit in range(8):
                if byte >> bit & 1:
                    yield byte_index * 8 + bit
