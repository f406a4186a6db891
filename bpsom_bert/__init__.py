"""Transformer fine-tuning with a BP-SOM head."""
