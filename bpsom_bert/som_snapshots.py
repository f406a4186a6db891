"""What the SOM cell explorer needs from a glue run, written as training goes.

After each labelling pass: ``som_snapshots/epoch_N.npz`` with the cell
labels and reliabilities and, per training example, its winner cell and
squared distance (recorded by that pass, so no extra pass over the data).
Once per run: ``som_examples.tsv`` (index, label, text) of the training
examples in the order the labelling pass sees them.
"""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Sequence

import numpy as np

from bpsom_core.atomic import atomic_write_bytes, atomic_write_text


def save_snapshot(out_dir: Path, epoch: int, head, class_names: Sequence[str]) -> None:
    """One epoch's map and winners (skipped when the counts came from training, not a pass)."""
    found = getattr(head, "label_winners", None)
    if found is None:
        return
    winners, dists = found
    snap_dir = Path(out_dir) / "som_snapshots"
    snap_dir.mkdir(parents=True, exist_ok=True)
    buf = io.BytesIO()
    np.savez_compressed(buf, labels=head.cell_labels.cpu().numpy(), reliability=head.reliability.cpu().numpy(),
                        winners=winners.numpy().astype(np.int32), winner_d2=dists.numpy().astype(np.float32),
                        grid_size=np.int64(head.grid_size), class_names=np.asarray(list(class_names), dtype=str))
    atomic_write_bytes(snap_dir / f"epoch_{epoch}.npz", buf.getvalue())


def write_examples(out_dir: Path, split, label_names: Sequence[str]) -> None:
    """som_examples.tsv: index, label and text (sentence pairs joined by ' || ') of each training example."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["index", "label", "text"])
    for i, (texts, label) in enumerate(zip(split.texts, split.labels)):
        w.writerow([i, label_names[label], " || ".join(" ".join(t.split()) for t in texts)])
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    atomic_write_text(Path(out_dir) / "som_examples.tsv", buf.getvalue())
