"""Property tests of the exact engine's C building blocks against glibc itself (via ctypes)."""

from __future__ import annotations

import ctypes
import ctypes.util

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsom_core.cnum import strtof, strtof_array
from bpsom_core.crand import GlibcRandom

libc = ctypes.CDLL(ctypes.util.find_library("c"))
libc.strtof.restype = ctypes.c_float
libc.strtof.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
libc.snprintf.argtypes = [ctypes.c_char_p, ctypes.c_size_t, ctypes.c_char_p, ctypes.c_double]
is_glibc = hasattr(libc, "gnu_get_libc_version")
needs_glibc = pytest.mark.skipif(not is_glibc, reason="compares with glibc")


def test_srand1_sequence_is_glibcs():
    g = GlibcRandom(1)
    assert [g.rand() for _ in range(3)] == [1804289383, 846930886, 1681692777]


def test_seed_zero_acts_as_one():
    assert GlibcRandom(0).take(5).tolist() == GlibcRandom(1).take(5).tolist()


@needs_glibc
@settings(max_examples=25, deadline=None)
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_rand_matches_libc(seed):
    libc.srand(ctypes.c_uint(seed))
    expected = [libc.rand() for _ in range(40)]
    assert GlibcRandom(seed).take(40).tolist() == expected


decimal_text = st.builds(
    lambda sign, whole, frac, exp: f"{sign}{whole}.{frac}e{exp}",
    st.sampled_from(["", "-"]), st.integers(0, 99999), st.integers(0, 10**12), st.integers(-45, 38))


@needs_glibc
@settings(max_examples=300, deadline=None)
@given(text=decimal_text)
def test_strtof_is_correctly_rounded_like_glibc(text):
    ours = strtof(text)
    theirs = np.float32(libc.strtof(text.encode(), None))
    assert ours.view(np.uint32) == theirs.view(np.uint32)


@needs_glibc
@settings(max_examples=200, deadline=None)
@given(bits=st.integers(0x00800000, 0x7F000000), sign=st.booleans())
def test_strtof_on_exact_float32_midpoints(bits, sign):
    """Decimal strings of a midpoint +- a hair: where double rounding would go wrong."""
    f = np.array([bits], np.uint32).view(np.float32)[0]
    g = np.nextafter(f, np.float32(np.inf))
    from fractions import Fraction
    mid = (Fraction(float(f)) + Fraction(float(g))) / 2
    for delta in (Fraction(0), Fraction(1, 10**60), -Fraction(1, 10**60)):
        value = mid + delta
        text = ("-" if sign else "") + _fraction_to_decimal(value)
        ours = strtof(text)
        theirs = np.float32(libc.strtof(text.encode(), None))
        assert ours.view(np.uint32) == theirs.view(np.uint32), text


def _fraction_to_decimal(x, digits=80):
    whole = x.numerator // x.denominator
    rest = x - whole
    out = []
    for _ in range(digits):
        rest *= 10
        d = rest.numerator // rest.denominator
        out.append(str(d))
        rest -= d
    return f"{whole}." + "".join(out)


def test_strtof_array_agrees_with_scalar():
    tokens = ["0.1", "-0.5489", "1e-50", "3.4028235e38", "0.0000", "-0.0000", "16777217"]
    assert [float(v) for v in strtof_array(tokens)] == [float(strtof(t)) for t in tokens]


@needs_glibc
@settings(max_examples=300, deadline=None)
@given(bits=st.integers(0, 2**32 - 1), fmt=st.sampled_from(["%7.4f", "%5.3f", "%6.2f", "%5.1f", "%f", "%8.5f",
                                                             "%6.5f", "%5.2f", "%6.4f", "%6.3f"]))
def test_python_formatting_of_float32_matches_glibc_printf(bits, fmt):
    value = float(np.array([bits], np.uint32).view(np.float32)[0])
    if not np.isfinite(value) or abs(value) > 1e12:
        return
    buf = ctypes.create_string_buffer(512)
    libc.snprintf(buf, 512, fmt.encode(), ctypes.c_double(value))
    assert fmt % value == buf.value.decode()
