"""One generated experiment: the .prm, its input files, the C's command line.

Written to disk in the recorded fixtures' layout (parity/fixtures/README.md),
with meta.json carrying what a replay needs beyond it: the C's seed argument
and the LOG/BEST_ENV names when they are not case.log/case.bst.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from bpsom.parity.prm_text import PrmText


@dataclass
class CaseSpec:
    """One experiment: the .prm, its input files and the C's command line."""

    prm: PrmText
    files: dict[str, bytes]
    args: list[str] = field(default_factory=list)
    features: list[str] = field(default_factory=list)
    well_defined: bool = True
    log_name: str = "case.log"
    bst_name: str = "case.bst"
    seed: int = 0

    def write(self, directory: Path) -> None:
        """Write the inputs and meta.json in the fixtures' layout."""
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "case.prm").write_bytes(self.prm.render())
        for name, data in self.files.items():
            (directory / name).write_bytes(data)
        (directory / "meta.json").write_text(json.dumps(self.meta(), indent=2) + "\n")

    def meta(self) -> dict:
        """meta.json: the fixtures' keys plus what a replay needs to know."""
        meta = {"seed": self.seed, "well_defined": self.well_defined,
                "features": list(self.features)}
        if self.args:
            meta["args"] = list(self.args)
        if self.log_name != "case.log":
            meta["log"] = self.log_name
        if self.bst_name != "case.bst":
            meta["bst"] = self.bst_name
        return meta

    def summary(self) -> str:
        """One line for reports: the tags that matter most."""
        keep = ("arch:", "som:", "som_grid", "dump:", "old_env", "test_ratio:", "n_epochs:",
                "lines:", "crlf", "no_trailing", "one_class", "argv_seed", "fatal")
        return " ".join(f for f in self.features if f.startswith(keep))
