"""Transformer fine-tuning with a BP-SOM head.

``BPSOMForSequenceClassification`` puts a BP-SOM hidden layer (sigmoid units
carrying a SOM, :class:`BPSOMHead`) between any Hugging Face encoder's [CLS]
vector and the classifier; :mod:`bpsom_bert.trainer` does the C's epoch-end
work (relabelling, schedules, pruning, early stopping); `bpsom glue` runs it
on GLUE tasks.  Importing the package registers the model with
``AutoConfig``/``AutoModelForSequenceClassification`` (when torch and
transformers are installed), so ``pipeline("text-classification",
model=run_dir/"best_model")`` works after ``import bpsom_bert``.
"""

from __future__ import annotations

__all__ = ["BPSOMConfig", "BPSOMForSequenceClassification", "BPSOMHead", "PlainHead",
           "BPSOMSequenceClassifierOutput"]


def __getattr__(name: str):
    if name in ("BPSOMHead", "PlainHead"):
        from . import head
        return getattr(head, name)
    if name in ("BPSOMConfig", "BPSOMForSequenceClassification", "BPSOMSequenceClassifierOutput"):
        from . import modeling
        return getattr(modeling, name)
    raise AttributeError(name)


def _register() -> None:
    """Auto-class registration; skipped quietly on an install without the bert extra."""
    try:
        from .modeling import register_auto_classes
    except (ImportError, ValueError):   # ValueError: a malformed HF_ENDPOINT, refused by `bpsom glue`
        return
    register_auto_classes()


_register()
