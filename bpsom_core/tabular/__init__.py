"""Tabular BP-SOM: a scikit-learn classifier built on bpsom_core.primitives."""

from .classifier import BPSOMClassifier

__all__ = ["BPSOMClassifier"]
