"""Hypothesis strategies for random, valid C experiments (a .prm plus data).

"Valid" means the C program's behaviour is defined: every window byte is in
its ALPHABET, every class is below N_out and ALL_LABELS's count, no hidden
layer is larger than the output layer (unless ``allow_oob``) and DUMP is never
3 (that level reads examples from stdin).  Inside those bounds anything goes:
out-of-range values that make the C substitute its defaults or stop with
"no default avaiable", DUMP levels, TEST_RATIO, OLD_ENV continuations, a seed
on the command line, CRLF and unterminated data files.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Optional

from hypothesis import strategies as st

from bpsom.parity.bst_synth import synth_bst
from bpsom.parity.casespec import CaseSpec
from bpsom.parity.grapho_data import PCLASSES, DataSpec, render
from bpsom.parity.prm_text import PrmText
from bpsom.parity.tags import INPUTS, MAX_LAST_LAYER, describe, excluding, is_oob

__all__ = ["CaseSpec", "GenOptions", "cases", "example_case", "excluding"]


@dataclass(frozen=True)
class GenOptions:
    """What the generator may produce beyond the plain, documented format."""

    allow_oob: bool = False      # hidden layers larger than the output layer
    lenient: bool = False        # whitespace variants, inf/nan, signs, odd layers
    max_lines: int = 120         # learning lines; VAL/TST get at most half
    min_lines: int = 1           # raise it to force bigger data sets (no DUMP 1/2 then)
    max_epochs: int = 6
    old_env: bool = True
    fatal: bool = True           # parameters with no default: the C stops early


# ---------------------------------------------------------------- numbers

def _chance(draw, p: float) -> bool:
    """True with probability p; shrinks to False so minimal cases stay plain.

    sampled_from picks uniformly (bounded integers lean towards small values).
    """
    k = round(200 * p)
    return draw(st.sampled_from([False] * (200 - k) + [True] * k))


def _one_in(draw, n: int) -> bool:
    """True with probability 1/n; shrinks to False."""
    return _chance(draw, 1.0 / n)


def _int_text(value: int, lenient: bool, draw) -> str:
    """An integer as fscanf("%d") reads it; lenient adds '+' and leading zeros."""
    if lenient and _one_in(draw, 10):
        return draw(st.sampled_from([f"+{value}" if value >= 0 else str(value),
                                     f"{'-' if value < 0 else ''}00{abs(value)}"]))
    return str(value)


def _float_text(value: float, lenient: bool, draw) -> str:
    """A float in one of the spellings fscanf("%f") accepts."""
    styles = ["%.1f", "%.2f", "%.3f", "%f", "%g", "repr"]
    if lenient:
        styles += ["%e", "%.7f", "lead"]
    style = draw(st.sampled_from(styles))
    if style == "repr":
        return repr(float(value))
    if style == "lead":  # '.5' and '-.5'
        text = "%g" % value
        return text.replace("0.", ".", 1) if "0." in text else text
    return style % value


@st.composite
def int_param(draw, lo: int, hi: int, typical: tuple[int, int], outside: list[int],
              lenient: bool, p_out: float = 0.03) -> tuple[int, str]:
    """(value, text): usually in ``typical``, sometimes outside [lo, hi]."""
    if outside and _chance(draw, p_out):
        value = draw(st.sampled_from(outside))
    else:
        value = draw(st.integers(*typical))
    return value, _int_text(value, lenient, draw)


@st.composite
def float_param(draw, lo: float, hi: float, typical: tuple[float, float], outside: list[float],
                lenient: bool, p_out: float = 0.03, specials: tuple = ()) -> tuple[float, str]:
    """(value, text) for a float parameter, boundary values included."""
    if outside and _chance(draw, p_out):
        value = draw(st.sampled_from(outside))
    elif _chance(draw, 0.1):
        value = draw(st.sampled_from([lo, hi, *specials]))
    else:
        value = round(draw(st.floats(*typical, allow_nan=False)), draw(st.integers(1, 6)))
    text = _float_text(value, lenient, draw)
    if lenient and _one_in(draw, 40):
        text = draw(st.sampled_from(["inf", "-inf", "1e30", "-0.0", "1.0000001"]))
    return value, text


# ---------------------------------------------------------------- network shape

@st.composite
def architecture(draw, opts: GenOptions) -> tuple[list[int], list[int]]:
    """(N[0..5], DIM_SOM[0..5]) with 1-4 hidden layers and SOMs on hidden ones."""
    n_hidden = draw(st.integers(1, 4))
    if _chance(draw, 0.03):
        n_out = 1
    elif _chance(draw, 0.6):
        n_out = draw(st.integers(2, 10))  # small outputs: few epochs still learn something
    else:
        n_out = draw(st.integers(2, 62))
    cap = n_out if not opts.allow_oob else max(n_out * 2, n_out + 8)
    hidden = [draw(st.one_of(st.integers(min(4, cap), max(1, cap)), st.integers(1, max(1, cap))))
              for _ in range(n_hidden)]
    if opts.lenient and n_hidden > 1 and _one_in(draw, 15):
        hidden[draw(st.integers(0, n_hidden - 2))] = 0  # an empty hidden layer
    n_in = INPUTS if not (opts.lenient and _one_in(draw, 10)) \
        else draw(st.integers(INPUTS + 1, 420))
    layers = [n_in, *hidden, n_out] + [0] * (MAX_LAST_LAYER + 1)
    layers = layers[:MAX_LAST_LAYER + 1]
    dims = [0] * (MAX_LAST_LAYER + 1)
    for i in range(1, n_hidden + 1):
        if _chance(draw, 0.55):
            dims[i] = draw(st.one_of(st.integers(1, 6), st.integers(7, 20)))
    if opts.lenient and _one_in(draw, 12):
        # a SOM on the output layer or on a layer that does not exist
        dims[draw(st.integers(n_hidden + 1, MAX_LAST_LAYER))] = draw(st.integers(1, 4))
    return layers, dims


# ---------------------------------------------------------------- the whole case

@st.composite
def cases(draw, opts: GenOptions = GenOptions()) -> CaseSpec:
    """One complete, C-valid experiment."""
    lenient = opts.lenient
    feats: list[str] = []
    rnd_seed = draw(st.integers(0, 2**31 - 1))
    layers, dims = draw(architecture(opts))
    prm_layers, prm_dims = list(layers), list(dims)

    old_env = opts.old_env and _chance(draw, 0.15)
    if old_env and _chance(draw, 0.3):
        # the .bst's network replaces the .prm's: let them disagree
        prm_layers, prm_dims = draw(architecture(opts))
    net_layers = layers
    n_out = net_layers[max(i for i, n in enumerate(net_layers) if n > 0)]

    # labels: at least as many as classes occurring; sometimes all 62 or more
    top_class = min(n_out, 62)
    if _chance(draw, 0.06):
        n_classes = 1
    elif _chance(draw, 0.7):  # about as many classes as outputs: unused outputs stall learning
        n_classes = max(min(2, top_class), top_class - draw(st.integers(0, 2)))
    else:
        n_classes = draw(st.integers(min(2, top_class), min(top_class, 8)))
    n_labels = draw(st.one_of(st.just(n_classes), st.integers(n_classes, 62),
                              st.integers(n_classes, 120)))
    all_labels = _all_labels(draw, n_labels, lenient)

    values: dict[str, str] = {}
    if _chance(draw, 0.05):
        dump = draw(st.sampled_from([4, -1, 7, 99]))  # the C substitutes 0
    else:
        dump = draw(st.integers(1, 2)) if _chance(draw, 0.3) else 0
    values["DUMP"] = _int_text(dump, lenient, draw)
    dump_layer = [int(_chance(draw, 0.15)) for _ in range(MAX_LAST_LAYER + 1)]
    if opts.fatal and _one_in(draw, 100):
        dump_layer[draw(st.integers(0, MAX_LAST_LAYER))] = draw(st.sampled_from([-1, 2]))
        feats.append("fatal:dump_layer")
    values["DUMP_LAYER"] = " ".join(str(v) for v in dump_layer)
    seed, values["SEED"] = draw(int_param(0, 32000, (0, 32000), [-1, 32001, 40000], lenient))

    files = _file_names(draw)
    values.update(LRN=files["LRN"], VAL=files["VAL"], TST=files["TST"],
                  LOG=files["LOG"], BEST_ENV=files["BEST_ENV"])
    values["OLD_ENV"] = "old.bst" if old_env else draw(st.sampled_from(["_", "_", "x"]))
    values["ALL_LABELS"] = all_labels

    # DUMP 1/2 log every example of every pass (the input layer alone is 378
    # numbers a line): keep those runs small.  DUMP_LAYER alone only shows in
    # the final test pass, where the C forces DUMP to 1.
    if dump in (1, 2) and opts.min_lines > 24:
        dump = 0
        values["DUMP"] = "0"
    dumping = dump in (1, 2)
    max_lines = 24 if dumping else opts.max_lines
    long_run = _one_in(draw, 40) and max_lines > 24
    if long_run:
        max_lines = 24
    epochs_out = [0, -3] if long_run else []
    n_epochs, values["N_EPOCHS"] = draw(int_param(1, 2**31 - 1, (1, opts.max_epochs), epochs_out,
                                                   lenient, p_out=1.0 if long_run else 0))
    eff_epochs = n_epochs if n_epochs >= 1 else 2000
    _, values["STOP_IF_NOTHING_DONE"] = draw(int_param(
        1, eff_epochs, (1, min(eff_epochs, opts.max_epochs + 1)), [0, -1, eff_epochs + 1], lenient))
    ratio_top = min(eff_epochs, 3) if _chance(draw, 0.3) else 1
    _, values["TEST_RATIO"] = draw(int_param(
        1, eff_epochs, (1, ratio_top), [0, -2, eff_epochs + 1], lenient))
    _, values["SOM_ERROR_USE"] = draw(float_param(0.0, 1.0, (0.0, 1.0), [-0.1, 1.5, 2.0], lenient,
                                                  specials=(0.25, 0.5)))
    _, values["RELIABILITY_THRESHOLD"] = draw(int_param(0, 100, (0, 100), [-1, 101, 150], lenient))
    _, values["PRUNE_THRESHOLD"] = draw(float_param(0.0, 1.0, (0.0, 0.12), [-0.01, 1.5], lenient,
                                                    specials=(0.0, 0.0, 0.02, 0.05)))

    if opts.fatal and _one_in(draw, 100):
        prm_layers = list(prm_layers)
        prm_layers[draw(st.integers(1, MAX_LAST_LAYER))] = draw(st.sampled_from([-1, 501]))
        feats.append("fatal:architecture")
    values["BP-architecture"] = " ".join(str(v) for v in prm_layers)
    _, values["BP_LEARN_RATE"] = draw(float_param(0.0, 1.0, (0.01, 0.9), [-0.5, 2.0], lenient))
    _, values["MOMENTUM"] = draw(float_param(0.0, 1.0, (0.0, 0.95), [-0.1, 1.5], lenient))
    _, values["MM_AFTER_N_EXAMPLES"] = draw(int_param(0, 32000, (0, 200), [-5, 32001], lenient))
    _, values["ERROR_LEARN_THRESHOLD"] = draw(float_param(0.0, 1.0, (0.0, 0.3), [-0.1, 1.2], lenient))
    _, values["WEIGHT_DECAY_RATE"] = draw(float_param(0.0, 0.01, (0.0, 0.01), [0.5, -0.001], lenient))

    if opts.fatal and _one_in(draw, 100):
        prm_dims = list(prm_dims)
        prm_dims[draw(st.integers(1, MAX_LAST_LAYER))] = draw(st.sampled_from([-1, 201]))
        feats.append("fatal:som_architecture")
    values["SOM-architecture"] = " ".join(str(v) for v in prm_dims)
    # each range's bound is the other value (as written): mostly keep min <= max
    min_ctx, values["SOM_MIN_CONTEXT"] = draw(int_param(0, 10, (0, 2), [-1, 5, 11], lenient))
    _, values["SOM_MAX_CONTEXT"] = draw(int_param(
        0, 10, (max(0, min(min_ctx, 10)), 4) if 0 <= min_ctx <= 4 else (0, 4), [-1, 11, 12], lenient))
    min_lr, values["SOM_MIN_LEARN_RATE"] = draw(float_param(0.0, 1.0, (0.0, 0.3), [-0.1, 1.2], lenient,
                                                            specials=(0.05,)))
    _, values["SOM_MAX_LEARN_RATE"] = draw(float_param(
        0.0, 1.0, (min_lr, 1.0) if 0.0 <= min_lr <= 1.0 else (0.0, 1.0), [1.5, -0.2], lenient,
        specials=(0.2,)))

    prm = PrmText(values)
    if _chance(draw, 0.1):
        prm.newline = "\r\n"
        feats.append("prm_crlf")
    if lenient:
        prm.separator = draw(st.sampled_from([" = ", " = ", "=", "  =\t"]))
        if prm.separator != " = ":
            feats.append("lenient:prm_separator")
        if _one_in(draw, 10):
            prm.second_all_labels = _all_labels(draw, n_labels, lenient)
            feats.append("lenient:all_labels_twice")

    # data
    table_seed = draw(st.integers(0, 2**31 - 1))
    noise = draw(st.sampled_from([0.0, 0.05, 0.1, 0.15]))
    data: dict[str, bytes] = {}
    line_counts = {}
    for role in ("LRN", "VAL", "TST"):
        name = files[role]
        if name in data:
            continue
        top = max_lines if role == "LRN" else max(1, max_lines // 2)
        spec = DataSpec(
            seed=draw(st.integers(0, 2**31 - 1)),
            # enough lines per class that a few epochs learn something (else no .bst)
            n_lines=draw(st.one_of(st.integers(min(top, max(8, 4 * n_classes, opts.min_lines)), top),
                                   st.integers(min(top, opts.min_lines), top))),
            n_classes=n_classes, noise=noise,
            duplicates=_chance(draw, 0.1),
            crlf=_chance(draw, 0.1),
            trailing_newline=not _chance(draw, 0.12),
            lenient_whitespace=lenient and _chance(draw, 0.3))
        data[name] = render(spec, table_seed)
        line_counts[role] = spec.n_lines
        feats += [f"{tag}:{name}" for tag, on in (("crlf", spec.crlf), ("duplicates", spec.duplicates),
                                                     ("no_trailing_newline", not spec.trailing_newline),
                                                     ("lenient_whitespace", spec.lenient_whitespace)) if on]
    if old_env:
        data["old.bst"] = synth_bst(random.Random(draw(st.integers(0, 2**31 - 1))),
                                    layers, dims, n_labels)
    if _one_in(draw, 25):
        data[files["LOG"]] = b"an older session's log\nTime: Thu Jan  1 00:00:00 1970\n"
        feats.append("existing_log")

    args: list[str] = []
    if _chance(draw, 0.1):
        argv_seed = draw(st.one_of(st.integers(0, 32000), st.integers(-2**31, 2**31 - 1)))
        args = [str(argv_seed)]
        feats.append("argv_seed")

    feats = describe(layers, dims, values, n_classes, n_labels, line_counts, old_env, noise) + feats
    return CaseSpec(prm=prm, files=data, args=args, features=feats,
                    well_defined=not is_oob(layers), log_name=files["LOG"],
                    bst_name=files["BEST_ENV"], seed=rnd_seed)


def _all_labels(draw, n_labels: int, lenient: bool) -> str:
    """ALL_LABELS: n 3-character labels joined by '|' (the C counts (len+1)/4)."""
    if not lenient or not _chance(draw, 0.3):
        chars = PCLASSES.decode("latin-1") + "ABCKLMOWY"
        return "|".join(f"-{chars[i % len(chars)]}-" for i in range(n_labels))
    printable = [chr(c) for c in range(33, 127) if chr(c) != "|"]
    return "|".join("".join(draw(st.lists(st.sampled_from(printable), min_size=3, max_size=3)))
                    for _ in range(n_labels))


def _file_names(draw) -> dict[str, str]:
    """Names of the data, log and best-network files (sometimes shared)."""
    lrn = draw(st.sampled_from(["lrn.txt", "data.lrn"]))
    val = draw(st.sampled_from(["val.txt", "val.txt", "val.txt", lrn]))
    tst = draw(st.sampled_from(["tst.txt", "tst.txt", "tst.txt", val]))
    log = draw(st.sampled_from(["case.log", "case.log", "run.log"]))
    bst = draw(st.sampled_from(["case.bst", "case.bst", "best.env"]))
    return {"LRN": lrn, "VAL": val, "TST": tst, "LOG": log, "BEST_ENV": bst}


def example_case(seed: int, opts: Optional[GenOptions] = None) -> CaseSpec:
    """One case drawn outside a hypothesis test (for `--record` and debugging)."""
    from hypothesis import HealthCheck, given, settings
    from hypothesis import seed as hseed

    box: list[CaseSpec] = []

    @hseed(seed)
    @settings(max_examples=12, database=None, deadline=None, phases=[__import__("hypothesis").Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases(opts or GenOptions()))
    def draw_one(case: CaseSpec) -> None:
        box.append(case)

    draw_one()
    return box[-1]
