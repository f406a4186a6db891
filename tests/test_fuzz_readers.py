"""Fuzz every reader with arbitrary and mutated bytes.

A reader may accept the bytes or raise InputError (which the CLI prints as one
line with exit 2); any other exception, or running past the hang guard, fails.
Valid seeds come from the recorded fixtures, so mutations reach deep code.
"""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bpsom_core.errors import InputError
from bpsom.parity.replay import FIXTURES
from fuzz_support import FUZZ, fuzz_bytes, no_hang, reader

CASE = FIXTURES / "wd_old_env_continue"
PRM_SEED = (CASE / "case.prm").read_bytes()
GRAPHO_SEED = b"".join((CASE / "lrn.txt").read_bytes().splitlines(keepends=True)[:12])
BST_SEED = (FIXTURES / "wd_dump1_tiny" / "expected.bst").read_bytes()
DENSE_SEED = b"0.1 0.2 0.3 0.4 0.9 0.1 0.1\n1 0 1 0 0.1 0.9 0.1\n0 0 0 1 0.1 0.1 0.9\n"
CSV_SEED = b"a,b,colour,class\n1.0,2,red,x\n3.5,-1,blue,y\n0,0,red,x\n2,7e-1,green,y\n"
ARFF_SEED = (b"@relation t\n@attribute a numeric\n@attribute c {x,y}\n@data\n1.5,x\n2,y\n0,x\n")
YAML_SEED = b"training:\n  epochs: 2\n  seed: 3\nmodel:\n  dropout: 0.1\n  max_length: 64\n"


def _call(fn, data: bytes, suffix: str, *args) -> None:
    """Write ``data`` to a temp file and read it: a result or InputError only."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / f"input{suffix}"
        path.write_bytes(data)
        with no_hang():
            try:
                fn(path, *args)
            except InputError as exc:
                assert "\n" not in exc.one_line()


def test_prm_seed_is_valid():
    read_prm = reader("bpsom_core.readers.prm", "read_prm")
    params = read_prm(CASE / "case.prm")
    assert params is not None


@FUZZ
@given(fuzz_bytes(PRM_SEED))
def test_fuzz_prm(data):
    _call(reader("bpsom_core.readers.prm", "read_prm"), data, ".prm")


@FUZZ
@given(fuzz_bytes(GRAPHO_SEED))
def test_fuzz_grapho(data):
    _call(reader("bpsom_core.readers.cdata", "read_grapho"), data, ".txt", 20, 20)


@FUZZ
@given(fuzz_bytes(DENSE_SEED))
def test_fuzz_dense(data):
    _call(reader("bpsom_core.readers.cdata", "read_dense"), data, ".txt", 4, 3, 3)


@FUZZ
@given(fuzz_bytes(BST_SEED))
def test_fuzz_bst(data):
    _call(reader("bpsom_core.readers.bst", "read_bst"), data, ".bst", 20)


@FUZZ
@given(fuzz_bytes(CSV_SEED))
def test_fuzz_csv(data):
    _call(reader("bpsom_core.readers.tabular", "read_table"), data, ".csv")


@FUZZ
@given(fuzz_bytes(CSV_SEED.replace(b",", b"\t")))
def test_fuzz_tsv(data):
    _call(reader("bpsom_core.readers.tabular", "read_table"), data, ".tsv")


@FUZZ
@given(fuzz_bytes(ARFF_SEED))
def test_fuzz_arff(data):
    _call(reader("bpsom_core.readers.tabular", "read_table"), data, ".arff")


def _npz_seed() -> bytes:
    buf = io.BytesIO()
    np.savez(buf, X=np.arange(12.0).reshape(4, 3), y=np.array(["a", "b", "a", "b"]))
    return buf.getvalue()


@FUZZ
@given(fuzz_bytes(_npz_seed()))
def test_fuzz_npz(data):
    _call(reader("bpsom_core.readers.tabular", "read_table"), data, ".npz")


@FUZZ
@given(fuzz_bytes(YAML_SEED))
def test_fuzz_yaml(data):
    _call(reader("bpsom_bert.config", "load_config"), data, ".yaml")


# Inputs the fuzzers found that once escaped as tracebacks: each must stay a clean InputError.
FOUND = [
    ("bpsom_bert.config", "load_config", b"training:\n  epochs: \x80\n", ".yaml", ()),
    ("bpsom_core.readers.cdata", "read_dense", b",", ".txt", (4, 3, 3)),
    ("bpsom_core.readers.tabular", "read_table", b",", ".csv", ()),
    ("bpsom_core.readers.tabular", "read_table", b'"', ".tsv", ()),
    ("bpsom_core.readers.tabular", "read_table", b"@relation", ".arff", ()),
    ("bpsom_core.readers.tabular", "read_table",
     b"@relation t\n@attributet\n@attribute a numeric\n@data\n1.5\n", ".arff", ()),
    ("bpsom_core.readers.tabular", "read_table",
     b"@relation t\n@attribute a numeric\n@attribute b {x,y}\n@attribute lass {p,q}\n@data", ".arff", ()),
]


@pytest.mark.parametrize("module,name,data,suffix,args", FOUND, ids=[f"{k[1]}{k[3]}-{i}" for i, k in enumerate(FOUND)])
def test_former_fuzz_findings(module, name, data, suffix, args):
    _call(reader(module, name), data, suffix, *args)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.text("_abcdefghijklmnopqrstuvwxyz", min_size=9, max_size=9),
                          st.sampled_from("1#iUstz")), min_size=1, max_size=30),
       st.sampled_from([b"", b"\n", b"  \n", b"\r"]))
def test_grapho_fast_path_reads_what_the_line_reader_reads(rows, tail):
    """The whole-file grapho reader and the line-by-line one give the same dataset."""
    from bpsom_core.readers import cdata
    data = b"".join(f"{w} {c}\n".encode("latin-1") for w, c in rows) + tail
    slow = cdata._grapho_lines(data, "x.txt", 62, 62)
    fast = cdata._grapho_uniform(data, "x.txt", 62, 62)
    if tail:
        assert fast is None   # anything but the plain form goes line by line
        return
    assert fast is not None
    for field in ("labels", "onact", "ends"):
        np.testing.assert_array_equal(getattr(fast, field), getattr(slow, field))
    assert fast.raw == slow.raw and fast.kind == slow.kind
