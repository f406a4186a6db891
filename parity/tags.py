"""Feature tags of a generated case, in the fixtures' vocabulary.

Tags describe a configuration as written (before the C's range checks), so a
report can say what the generated cases exercised and ``--exclude`` can leave
a kind of case out; see parity/fixtures/README.md for the vocabulary.
"""

from __future__ import annotations

import re

from hypothesis import strategies as st

from bpsom.parity.casespec import CaseSpec

MAX_LAST_LAYER = 5
INPUTS = 378  # 9 window positions x 42 alphabet characters


def is_oob(layers: list[int]) -> bool:
    """True when a hidden layer is larger than the output layer (C reads out of bounds)."""
    last = max(i for i, n in enumerate(layers) if n > 0)
    return any(layers[i] > layers[last] for i in range(1, last))


def describe(layers, dims, values, n_classes, n_labels, lines, old_env, noise) -> list[str]:
    """Tags in the fixtures' vocabulary (parity/fixtures/README.md)."""
    last = max(i for i, n in enumerate(layers) if n > 0)
    soms = [f"som:layer{i}" for i in range(1, MAX_LAST_LAYER + 1) if dims[i] > 0]
    tags = [f"hidden_layers:{last - 1}", "arch:" + "-".join(str(n) for n in layers[:last + 1])]
    tags += soms or ["som:none"]
    tags += [f"som_grid:{d}x{d}" for d in sorted({d for d in dims[1:] if d > 0})]
    for key in ("SEED", "N_EPOCHS", "TEST_RATIO", "STOP_IF_NOTHING_DONE", "MOMENTUM",
                "RELIABILITY_THRESHOLD", "SOM_ERROR_USE", "PRUNE_THRESHOLD", "BP_LEARN_RATE", "DUMP"):
        tags.append(f"{key.lower()}:{values[key]}")
    if values["DUMP_LAYER"] != "0 0 0 0 0 0":
        tags.append("dump_layer:" + values["DUMP_LAYER"].replace(" ", ""))
    if old_env:
        tags.append("old_env")
    if n_classes == 1:
        tags.append("one_class")
    tags.append(f"classes:{n_classes}/labels:{n_labels}")
    tags.append("lines:" + "/".join(str(lines.get(r, "=")) for r in ("LRN", "VAL", "TST")))
    tags.append(f"label_noise:{noise}")
    if is_oob(layers):
        tags.append("oob:hidden_layer_larger_than_output")
    if any(layers[i] == 0 for i in range(1, last)):
        tags.append("lenient:empty_hidden_layer")
    if layers[0] != INPUTS:
        tags.append("lenient:extra_inputs")
    if dims[0] > 0 or any(dims[i] > 0 for i in range(last, MAX_LAST_LAYER + 1)):
        tags.append("lenient:som_off_hidden_layers")
    numbers = [str(v) for k, v in values.items()
               if k not in ("LRN", "VAL", "TST", "LOG", "OLD_ENV", "BEST_ENV", "ALL_LABELS")]
    if any(re.search(r"inf|nan", v) for v in numbers):
        tags.append("lenient:inf_nan")
    if any(re.search(r"[+]|(?<![\d.])00\d|^\.|-\.|e[+-]", v) for v in numbers):
        tags.append("spelling:number")
    return tags


def excluding(strategy: st.SearchStrategy[CaseSpec], prefixes: tuple[str, ...]) -> st.SearchStrategy[CaseSpec]:
    """Drop cases with a feature tag starting with any of ``prefixes`` (``--exclude``)."""
    if not prefixes:
        return strategy
    return strategy.filter(lambda spec: not any(f.startswith(prefixes) for f in spec.features))


def observed_tags(stdout: bytes, log: bytes) -> list[str]:
    """Tags read from the C's output, in the fixtures' vocabulary (README.md)."""
    text = stdout.decode("latin-1")
    tags = []
    warned = sorted(set(re.findall(r"Warning: (\S+) = ", text)))
    if warned:
        tags.append("observed:default_warning")
        tags += [f"observed:warning:{w}" for w in warned]
    if "no default avaiable" in text:
        tags.append("observed:fatal_no_default")
    if re.search(r"LRN=1 MAT=1 .*SOM\d= *(?!0\.0 )\d", text):
        tags.append("observed:som_error_used")
    if re.search(r" \d+:-\d+", text):
        tags.append("observed:pruning")
    epochs = re.findall(r"^(\d+)/(\d+) LRN=1", text, re.M)
    if epochs and int(epochs[-1][0]) < int(epochs[-1][1]):
        tags.append("observed:early_stop")
    if b"EXIT: fatal error" in log:
        tags.append("observed:fatal_error")
    return tags


# Tags worth counting for "what did we actually exercise" in the report.
COVERAGE_PREFIXES = ("som:layer", "old_env", "dump:1", "dump:2", "one_class", "argv_seed",
                     "fatal:", "existing_log", "prm_crlf", "oob:", "lenient:", "spelling:")
COVERAGE_CONTAINS = ("crlf:", "no_trailing_newline:", "duplicates:", "lenient_whitespace:")


def coverage_tags(features: list[str], stdout: bytes, log: bytes) -> set[str]:
    """Coarse tags for the live report's coverage table (one count per case)."""
    tags = set()
    for f in features:
        if f.startswith("hidden_layers:"):
            tags.add(f)
        elif f.startswith(COVERAGE_PREFIXES):
            keep_value = f.startswith(("som:", "dump:", "fatal:", "lenient:"))
            tags.add(":".join(f.split(":")[:2]) if keep_value else f.split(":")[0])
        elif f.startswith(COVERAGE_CONTAINS):
            tags.add(f.split(":")[0])
        elif f.startswith("test_ratio:") and f != "test_ratio:1":
            tags.add("test_ratio>1 or out of range")
        elif f.startswith("lines:") and f.split(":")[1].split("/")[0].isdigit():
            if int(f.split(":")[1].split("/")[0]) >= 100:
                tags.add("learning lines >= 100")
        elif f.startswith("som_grid:") and int(f.split(":")[1].split("x")[0]) >= 10:
            tags.add("som grid >= 10x10")
    tags.update(observed_tags(stdout, log))
    return {t for t in tags if not t.startswith("observed:warning:")}
