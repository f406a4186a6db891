"""Small examples shipped inside the package, so a first run needs no data.

`grapho_small`: a 378-30-30 network with an 8x8 SOM on generated
grapheme-to-phoneme windows (the C program's own data format; the same
generated inputs as the parity case wd_1h_som12_rt100_lrn3000).  Runs in a
few seconds and gives byte-identical output to the C program.
"""

from __future__ import annotations

import shutil
from importlib import resources
from pathlib import Path

EXAMPLES = ("grapho_small",)


def install_example(target: Path, name: str = "grapho_small") -> Path:
    """Copy an example's files into `target` (created) and return its .prm path."""
    if name not in EXAMPLES:
        raise ValueError(f"unknown example {name!r}; choose from {', '.join(EXAMPLES)}")
    target = Path(target)
    target.mkdir(parents=True, exist_ok=True)
    source = resources.files(__package__) / name
    prm = None
    for entry in source.iterdir():
        if entry.is_file():
            with resources.as_file(entry) as path:
                shutil.copy(path, target / entry.name)
            if entry.name.endswith(".prm"):
                prm = target / entry.name
    assert prm is not None
    for stale in ("example.log", "example.bst"):
        (target / stale).unlink(missing_ok=True)
    return prm
