"""Readers: turn files into parameters and data sets, or raise InputError."""
