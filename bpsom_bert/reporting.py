"""Epoch records of `bpsom glue` to TensorBoard and to Python logging.

`bpsom glue --report-to tensorboard` writes one TensorBoard run per mode
(``<output-dir>/<task>/<mode>/tensorboard``) with every number of an epoch
record: ``train/loss``, ``dev/accuracy``, ``som/usage``,
``som/labelled_cells``, ``som/mean_reliability``, ``som/hidden_units``, ...
Every epoch also goes to the Python logger ``bpsom_bert`` at INFO level.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Optional, Sequence

from bpsom_core.errors import InputError

logger = logging.getLogger("bpsom_bert")

REPORTERS = ("none", "tensorboard")


def check_report_to(names: Sequence[str]) -> tuple[str, ...]:
    """Validated reporter names ('none' alone means none); one-line error otherwise."""
    chosen = tuple(n.strip().lower() for n in names if n.strip())
    for n in chosen:
        if n not in REPORTERS:
            raise InputError(f"unknown reporter '{n}'; allowed: {', '.join(REPORTERS)}", field="--report-to")
    if "tensorboard" in chosen:
        try:
            import tensorboard  # noqa: F401
        except ModuleNotFoundError:
            raise InputError("needs the tensorboard package: pip install tensorboard",
                             field="--report-to") from None
    return tuple(n for n in chosen if n != "none")


def _tag(key: str) -> Optional[str]:
    """TensorBoard tag of a record key (None: not a scalar to plot)."""
    for prefix, group in (("train_", "train/"), ("dev_", "dev/"), ("som_", "som/")):
        if key.startswith(prefix):
            return group + key[len(prefix):]
    if key in ("hidden_units", "pruned"):
        return f"som/{key}"
    return None


class EpochReporter:
    """Receives each epoch record of one mode; logs it, and writes TensorBoard scalars if asked."""

    def __init__(self, out_dir: Path, mode: str, report_to: Sequence[str] = (), enabled: bool = True):
        self.mode = mode
        self.writer = None
        if enabled and "tensorboard" in report_to:
            from torch.utils.tensorboard import SummaryWriter
            self.writer = SummaryWriter(log_dir=str(Path(out_dir) / "tensorboard"))

    def epoch(self, record: dict) -> None:
        """One epoch's numbers (the trainer's epoch record)."""
        epoch = int(record["epoch"])
        numbers = {k: v for k, v in record.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
        logger.info("%s epoch %d: %s", self.mode, epoch,
                    " ".join(f"{k}={v:.4g}" for k, v in numbers.items() if k != "epoch"))
        if self.writer is not None:
            for key, value in numbers.items():
                tag = _tag(key)
                if tag is not None:
                    self.writer.add_scalar(tag, value, epoch)
            self.writer.flush()

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
