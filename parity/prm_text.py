"""Render a C ``.prm`` file: fixed line order, as read_parameters() scans it.

The C program reads its parameter file with one fscanf per line in a fixed
order, so the generator only varies the values and the whitespace that
fscanf skips; the keys and their order never change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

# (key as written, key in the value dict); None marks a blank separator line.
PRM_LAYOUT: list[Optional[str]] = [
    "DUMP", "DUMP_LAYER", "SEED", None,
    "LRN", "VAL", "TST", "LOG", "OLD_ENV", "BEST_ENV", "ALL_LABELS",
    "N_EPOCHS", "STOP_IF_NOTHING_DONE", "TEST_RATIO", "SOM_ERROR_USE",
    "RELIABILITY_THRESHOLD", "PRUNE_THRESHOLD", None,
    "BP-architecture", "BP_LEARN_RATE", "MOMENTUM", "MM_AFTER_N_EXAMPLES",
    "ERROR_LEARN_THRESHOLD", "WEIGHT_DECAY_RATE", "\t\t",
    "SOM-architecture", "SOM_MAX_CONTEXT", "SOM_MIN_CONTEXT", "ALL_LABELS_2",
    "SOM_MAX_LEARN_RATE", "SOM_MIN_LEARN_RATE",
]


@dataclass
class PrmText:
    """Every .prm value as the text to write (so '1e-3' and '+5' survive)."""

    values: dict[str, str]
    newline: str = "\n"
    separator: str = " = "
    second_all_labels: Optional[str] = None  # the C reads ALL_LABELS twice
    trailing_blank: bool = True
    extra: dict = field(default_factory=dict)

    def render(self) -> bytes:
        """The file's bytes (Latin-1, like everything the C reads)."""
        out = []
        for key in PRM_LAYOUT:
            if key is None:
                out.append("")
            elif key == "\t\t":
                out.append("\t\t")
            elif key == "ALL_LABELS_2":
                if self.second_all_labels is not None:
                    out.append(f"ALL_LABELS{self.separator}{self.second_all_labels}")
            else:
                out.append(f"{key}{self.separator}{self.values[key]}")
        text = self.newline.join(out) + self.newline
        if self.trailing_blank:
            text += self.newline
        return text.encode("latin-1")
