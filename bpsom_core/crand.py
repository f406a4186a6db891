"""glibc-compatible ``srand``/``rand`` (the TYPE_3 additive feedback generator).

The C program draws its initial weights from glibc's ``rand()``; reproducing
its sequence exactly is what makes seeded runs byte-identical.  Used only
where C parity needs it; everything else uses NumPy generators.
"""

from __future__ import annotations

import numpy as np

_M31 = 2147483647


class GlibcRandom:
    """The sequence of glibc ``rand()`` after ``srand(seed)``."""

    def __init__(self, seed: int = 1):
        self.seed(seed)

    def seed(self, seed: int) -> None:
        """Equivalent of ``srand(seed)`` (seed 0 acts as 1, as in glibc)."""
        seed &= 0xFFFFFFFF
        if seed == 0:
            seed = 1
        r = [0] * 344
        r[0] = seed if seed < 2**31 else seed - 2**32  # glibc keeps it as int32
        for i in range(1, 31):
            # 16807 * r mod (2^31 - 1) with Schrage's method on signed values
            hi, lo = divmod(r[i - 1], 127773) if r[i - 1] >= 0 else (-((-r[i - 1]) // 127773), -((-r[i - 1]) % 127773))
            word = 16807 * lo - 2836 * hi
            if word < 0:
                word += _M31
            r[i] = word
        for i in range(31, 34):
            r[i] = r[i - 31]
        for i in range(34, 344):
            r[i] = (r[i - 31] + r[i - 3]) & 0xFFFFFFFF
        self._state = [x & 0xFFFFFFFF for x in r[-34:]]  # ring of the last 34 words
        self._pos = 0

    def rand(self) -> int:
        """The next ``rand()`` value, in [0, 2**31)."""
        s = self._state
        p = self._pos
        # state holds r[k-34 .. k-1] as a ring starting at p
        value = (s[(p + 3) % 34] + s[(p + 31) % 34]) & 0xFFFFFFFF
        s[p] = value
        self._pos = (p + 1) % 34
        return value >> 1

    def take(self, n: int) -> np.ndarray:
        """The next ``n`` values as an int64 array."""
        return np.fromiter((self.rand() for _ in range(n)), dtype=np.int64, count=n)
