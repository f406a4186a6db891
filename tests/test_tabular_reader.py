"""Tabular readers: CSV/TSV/ARFF/.npz, column kinds, preprocessing, and one-line input errors."""

from __future__ import annotations

import numpy as np
import pytest

from bpsom_core.data import DEFAULT_DATASET, DEFAULT_TARGET
from bpsom_core.errors import InputError
from bpsom_core.readers.tabular import Preprocessor, read_table

CSV = """size,colour,weight,kind
1.0,red,10,a
2.0,blue,12,b
3.0,red,11,a
4.0,green,15,b
"""


def write(tmp_path, name, text):
    p = tmp_path / name
    p.write_text(text)
    return p


def test_csv_kinds_target_and_lines(tmp_path):
    t = read_table(write(tmp_path, "d.csv", CSV), target="kind")
    assert t.names == ["size", "colour", "weight"]
    assert t.kinds == ["numeric", "categorical", "numeric"]
    assert t.y.tolist() == ["a", "b", "a", "b"] and t.classes == ["a", "b"]
    assert t.lines.tolist() == [2, 3, 4, 5]
    t2 = read_table(write(tmp_path, "d2.csv", CSV), categorical=["size"])
    assert t2.target == "kind" and t2.kinds[0] == "categorical"


def test_tsv_and_semicolon_are_read(tmp_path):
    t = read_table(write(tmp_path, "d.tsv", CSV.replace(",", "\t")))
    assert t.names == ["size", "colour", "weight"]
    t = read_table(write(tmp_path, "d.txt", CSV.replace(",", ";")))
    assert t.kinds == ["numeric", "categorical", "numeric"]


def test_preprocessor_fits_on_training_rows_only(tmp_path):
    t = read_table(write(tmp_path, "d.csv", CSV), target="kind")
    pre = Preprocessor.fit(t.take(np.array([0, 1])))
    assert pre.feature_names_out == ["size", "colour=blue", "colour=red", "weight"]
    X = pre.transform(t)
    np.testing.assert_allclose(X[:2, 0], [-1.0, 1.0])  # standardised on rows 0-1
    np.testing.assert_allclose(X[2:, 0], [3.0, 5.0])   # rows 2-3 use the training mean/sd
    np.testing.assert_array_equal(X[:, 1:3], [[0, 1], [1, 0], [0, 1], [0, 0]])  # green unseen: zeros
    again = Preprocessor.from_dict(pre.to_dict())
    np.testing.assert_array_equal(again.transform(t), X)


def test_arff_and_npz(tmp_path):
    arff_text = """@relation toy
@attribute x numeric
@attribute c {u,v}
@attribute class {yes,no}
@data
% a comment
1.5,u,yes
2.5,v,no

3.5,u,yes
"""
    t = read_table(write(tmp_path, "d.arff", arff_text))
    assert t.kinds == ["numeric", "categorical"] and t.y.tolist() == ["yes", "no", "yes"]
    assert t.lines.tolist() == [7, 8, 10]
    p = tmp_path / "d.npz"
    np.savez(p, X=np.arange(8.0).reshape(4, 2), y=np.array([0, 1, 0, 1]), feature_names=np.array(["a", "b"]))
    t = read_table(p)
    assert t.names == ["a", "b"] and t.classes == ["0", "1"]


def test_embedded_default_is_the_wine_table():
    t = read_table(DEFAULT_DATASET, DEFAULT_TARGET)
    assert len(t) == 178 and len(t.names) == 13 and set(t.kinds) == {"numeric"}
    assert [int((t.y == c).sum()) for c in t.classes] == [59, 71, 48]


@pytest.mark.parametrize("name, text, kwargs, message, line, field", [
    ("d.csv", CSV, {"target": "label"}, "target column not found", 1, "label"),
    ("d.csv", CSV.replace("12,b", "1x2,b"), {}, "non-numeric value '1x2'", 3, "weight"),
    ("d.csv", CSV.replace("12,b", "nan,b"), {}, "missing value 'nan'", 3, "weight"),
    ("d.csv", CSV.replace("12,b", "inf,b"), {}, "non-finite value 'inf'", 3, "weight"),
    ("d.csv", CSV.replace("2.0,blue,12,b", "2.0,blue,12"), {}, "3 fields, the header has 4", 3, None),
    ("d.csv", CSV.replace(",b\n", ",a\n"), {}, "single class", 2, "kind"),
    ("d.csv", "", {}, "empty file", None, None),
    ("d.csv", "a,b\n", {}, "no data rows", 1, None),
    ("d.csv", "a,a\n1,2\n", {}, "duplicate column", 1, "a"),
    ("d.arff", "@relation r\n@attribute x numeric\n@attribute c {p,q}\n@data\n1,p\n?,q\n", {},
     "missing value '?'", 6, "x"),
])
def test_bad_input_names_file_line_and_field(tmp_path, name, text, kwargs, message, line, field):
    path = write(tmp_path, name, text)
    with pytest.raises(InputError) as info:
        read_table(path, **kwargs)
    err = info.value
    assert message in err.message
    assert err.path == str(path) and err.line == line and err.field == field
    assert "\n" not in err.one_line()


def test_npz_errors(tmp_path):
    p = tmp_path / "bad.npz"
    np.savez(p, X=np.array([[1.0, np.inf], [2.0, 3.0]]), y=np.array([0, 1]))
    with pytest.raises(InputError, match="non-finite") as info:
        read_table(p)
    assert (info.value.line, info.value.field) == (1, "x2")
    np.savez(p, A=np.zeros((2, 2)))
    with pytest.raises(InputError, match="array not found"):
        read_table(p)
    with pytest.raises(InputError, match="no such file"):
        read_table(tmp_path / "missing.csv")
