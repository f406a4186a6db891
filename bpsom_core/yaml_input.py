"""YAML input files (sweep specs, run configurations): bytes to data, every fault one
InputError naming the file and, where YAML knows it, the line."""

from __future__ import annotations

from typing import Any

from .errors import InputError, read_input_bytes


def parse_yaml(data: bytes, path: str) -> Any:
    """``data`` (a file's bytes) parsed as UTF-8 YAML; bad bytes, bad YAML and absurd nesting
    are one-line errors naming ``path`` and the line."""
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text (byte {exc.start})", path,
                         data[:exc.start].count(b"\n") + 1) from None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        raise InputError(f"not valid YAML: {getattr(exc, 'problem', None) or type(exc).__name__}", path,
                         None if mark is None else mark.line + 1) from None
    except RecursionError:
        raise InputError("nested too deeply", path) from None


def read_yaml(path, what: str) -> Any:
    """A user's YAML file (``what`` names its kind in messages), read and parsed."""
    return parse_yaml(read_input_bytes(path, what), str(path))
