"""Record new parity cases from a C binary, in the fixtures' layout.

Two sources: cases hypothesis generates (``record_generated``) and case
directories that hold inputs only (``record_inputs``: a user's own .prm and
data, to be turned into a replayable case).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from pathlib import Path
from typing import Callable, Optional

from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import seed as hypothesis_seed

from bpsom_core.atomic import atomic_write_bytes, atomic_write_text
from bpsom.parity.casedir import run_side, write_case_dir
from bpsom.parity.generate import CaseSpec, GenOptions, cases
from bpsom.parity.replay import case_inputs, collect_outputs, read_meta
from bpsom.parity.runners import RunFailed, Runner
from bpsom.parity.tags import observed_tags


def record_generated(c_runner: Runner, out_dir: Path, examples: int, seed: int,
                     options: GenOptions = GenOptions(),
                     progress: Optional[Callable[[str], None]] = None) -> list[Path]:
    """Generate ``examples`` cases and record the C's outputs for each under ``out_dir``.

    Cases on which the C itself fails (timeout, crash) are skipped.
    """
    written: list[Path] = []
    out_dir.mkdir(parents=True, exist_ok=True)

    @hypothesis_seed(seed)
    @settings(max_examples=examples, database=None, deadline=None, phases=[Phase.generate],
              suppress_health_check=list(HealthCheck))
    @given(cases(options))
    def record_one(spec: CaseSpec) -> None:
        c = run_side(c_runner, spec, catch_all=False)
        if c.failure is not None:
            return
        target = out_dir / f"gen_s{seed}_{len(written):04d}"
        write_case_dir(target, spec, c)
        written.append(target)
        if progress:
            progress(target.name)

    record_one()
    update_index(out_dir)
    return written


def needs_recording(case_dir: Path) -> bool:
    """A directory with a case.prm but no recorded stdout."""
    return (case_dir / "case.prm").exists() and not (case_dir / "expected.stdout").exists()


def record_inputs(c_runner: Runner, case_dir: Path) -> Optional[str]:
    """Run the C on a directory of inputs and add expected.* and meta.json.

    Returns None on success, or why the C failed.
    """
    meta = read_meta(case_dir)
    with tempfile.TemporaryDirectory(prefix="bpsom-record-") as tmp:
        work = Path(tmp)
        for p in case_inputs(case_dir):
            shutil.copy(p, work / p.name)
        try:
            out = c_runner(work, list(meta.get("args", [])))
        except RunFailed as exc:
            return str(exc)
        outputs = collect_outputs(work, out.stdout, meta)
    for name, data in outputs.items():
        if data is not None:
            atomic_write_bytes(case_dir / f"expected.{name}", data)
    atomic_write_bytes(case_dir / "expected.stderr", out.stderr)
    meta.setdefault("seed", None)
    meta.setdefault("well_defined", True)
    meta["features"] = sorted(set(meta.get("features", [])) |
                              set(observed_tags(outputs["stdout"] or b"", outputs["log"] or b"")))
    meta["c_runtime_s"] = round(out.seconds, 3)
    atomic_write_text(case_dir / "meta.json", json.dumps(meta, indent=2) + "\n")
    return None


def update_index(root: Path) -> None:
    """index.json beside the cases, like parity/fixtures/index.json."""
    entries = []
    for d in sorted(p for p in root.iterdir() if (p / "meta.json").exists()):
        meta = read_meta(d)
        entries.append({"name": d.name, "path": d.name, "well_defined": meta.get("well_defined", True),
                        "features": meta.get("features", [])})
    atomic_write_text(root / "index.json", json.dumps(
        {"description": "Cases recorded with `bpsom parity --record`.", "n_cases": len(entries),
         "n_well_defined": sum(e["well_defined"] for e in entries), "cases": entries}, indent=2) + "\n")
