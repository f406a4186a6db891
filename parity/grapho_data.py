"""Learnable data sets in the C program's grapho window format.

The live harness needs data the network can learn (so SOM labels, reliabilities
and pruning actually happen) but also the edge cases the C program accepts: a
single class, duplicate lines, no final newline, CRLF line ends.  Everything
here is derived from one integer seed, so a case is reproducible from its spec.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

# The C program's ALPHABET (grapho.hlp), as Latin-1 bytes: input unit
# 1 + 42*position + index.  Any other window byte makes the C loop forever.
ALPHABET = b"_'-.abcdefghijklmnopqrstuvwxyz\xe0\xe2\xe4\xe7\xe8\xe9\xea\xef\xf1\xf4\xf6\xfc"
# Class character j is output unit 1+j; only the first N_out may occur.
PCLASSES = b"#$+-0123456789<>@DEFGHIJNPQRSTUVXZ[]_bcdfghijklmnpqrstuvwxz{}~"
WINDOW = 9
LETTERS = ALPHABET[4:]


@dataclass(frozen=True)
class DataSpec:
    """How one data file is shaped; the content comes from ``seed``."""

    seed: int
    n_lines: int
    n_classes: int
    noise: float = 0.1
    duplicates: bool = False
    crlf: bool = False
    trailing_newline: bool = True
    # Variants the C accepts because it reads the class with fscanf(" %s "):
    # any whitespace (tabs, several spaces, blank lines) around the class.
    lenient_whitespace: bool = False


def _words(rng: random.Random, n_letters: int) -> list[bytes]:
    """Random words whose letters total at least ``n_letters``."""
    words, total = [], 0
    punct = b"'-."
    while total < n_letters:
        length = rng.randint(1, 10)
        word = bytearray()
        for _ in range(length):
            r = rng.random()
            if r < 0.82:
                word.append(rng.choice(LETTERS[:26]))
            elif r < 0.94:
                word.append(rng.choice(LETTERS[26:]))
            else:
                word.append(rng.choice(punct))
        words.append(bytes(word))
        total += length
    return words


def windows(rng: random.Random, n_lines: int) -> list[bytes]:
    """Nine-character windows sliding over random words padded with ``_``."""
    out: list[bytes] = []
    for word in _words(rng, n_lines):
        padded = b"____" + word + b"____"
        for i in range(len(word)):
            out.append(padded[i:i + WINDOW])
    return out[:n_lines]


def class_table(rng: random.Random, n_classes: int) -> dict[tuple[int, int], int]:
    """A random map (centre char, right neighbour) -> class: learnable structure."""
    return {(a, b): rng.randrange(n_classes) for a in ALPHABET for b in ALPHABET}


def render(spec: DataSpec, table_seed: int) -> bytes:
    """The bytes of one data file.  ``table_seed`` is shared by LRN/VAL/TST so
    the three files follow the same class rule."""
    rng = random.Random(spec.seed)
    table = class_table(random.Random(table_seed), max(1, spec.n_classes))
    lines: list[bytes] = []
    for win in windows(rng, spec.n_lines):
        if spec.n_classes <= 1:
            cls = 0
        elif rng.random() < spec.noise:
            cls = rng.randrange(spec.n_classes)
        else:
            cls = table[(win[4], win[5])]
        lines.append(win + b" " + PCLASSES[cls:cls + 1])
    if spec.duplicates and lines:
        for _ in range(rng.randint(1, max(1, len(lines) // 3))):
            pos = rng.randrange(len(lines) + 1)
            lines.insert(pos, rng.choice(lines))
    nl = b"\r\n" if spec.crlf else b"\n"
    if spec.lenient_whitespace:
        return _lenient_join(rng, lines, nl, spec.trailing_newline)
    body = nl.join(lines)
    return body + nl if spec.trailing_newline else body


def _lenient_join(rng: random.Random, lines: list[bytes], nl: bytes, trailing: bool) -> bytes:
    """Join lines with whitespace the C's fscanf(" %s ") skips anyway."""
    parts = []
    for line in lines:
        sep = rng.choice([b" ", b"  ", b"\t", b" \t "])
        parts.append(line[:WINDOW] + sep + line[WINDOW + 1:])
        if rng.random() < 0.1:
            parts.append(b"")  # a blank line
    body = nl.join(parts)
    if trailing:
        body += nl * rng.randint(1, 3)
    return body
