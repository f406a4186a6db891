"""BP-SOM's epoch-boundary work as a Hugging Face ``TrainerCallback``.

For users who train :class:`BPSOMForSequenceClassification` with
``transformers.Trainer`` instead of `bpsom glue`: at each epoch start the SOM
learning rate and context follow the C's schedules; during the epoch the head
counts winners (``relabel: epoch``); at each epoch end the SOM is relabelled
from those counts and the activation mean/std are refreshed.  Pruning is left
to `bpsom glue`'s trainer, which owns the optimizer it must shrink.
"""

from __future__ import annotations

from transformers import TrainerCallback

from .head import BPSOMHead


class BPSOMCallback(TrainerCallback):
    """Schedules at epoch start, relabelling at epoch end (epochs 1-based, as the C)."""

    def __init__(self, n_epochs: int, lr_min: float = 0.05, lr_max: float = 0.20,
                 context_min: int = 0, context_max: int = 2):
        self.n_epochs = n_epochs
        self.lr = (lr_min, lr_max)
        self.context = (context_min, context_max)

    @staticmethod
    def _head(model) -> BPSOMHead | None:
        head = getattr(getattr(model, "module", model), "head", None)
        return head if isinstance(head, BPSOMHead) else None

    def on_epoch_begin(self, args, state, control, model=None, **kwargs):
        head = self._head(model)
        if head is not None:
            epoch = int(round(state.epoch or 0)) + 1
            head.set_schedule(min(epoch, self.n_epochs), self.n_epochs, *self.lr, *self.context)
            head.collect_epoch_counts = True
            head.reset_epoch()

    def on_epoch_end(self, args, state, control, model=None, **kwargs):
        head = self._head(model)
        if head is not None:
            head.relabel()
