"""Data shipped inside the package (see README.md here for provenance and licence)."""

from __future__ import annotations

from pathlib import Path

DEFAULT_DATASET = Path(__file__).with_name("wine.csv")
DEFAULT_TARGET = "cultivar"
