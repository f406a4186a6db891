"""YAML input files (sweep specs, run configurations): bytes to data, every fault one
InputError naming the file and, where YAML knows it, the line."""

from __future__ import annotations

from typing import Any

from .errors import InputError, read_input_bytes


def parse_yaml(data: bytes, path: str) -> Any:
    """``data`` (a file's bytes) parsed as UTF-8 YAML; bad bytes, bad YAML and absurd nesting
    are one-line errors naming ``path`` and the line."""
    return parse_yaml_with_key_lines(data, path)[0]


def parse_yaml_with_key_lines(data: bytes, path: str) -> tuple[Any, dict[tuple[str, ...], int]]:
    """:func:`parse_yaml`, plus the 1-based line of each top-level key ``(section,)`` and of
    each key one level down ``(section, key)``, so later checks of values can name lines."""
    import yaml

    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 text (byte {exc.start})", path,
                         data[:exc.start].count(b"\n") + 1) from None
    loader = None
    try:
        loader = _unique_keys_loader()(text)    # its reader refuses control characters at once
        root = loader.get_single_node()
        value = None if root is None else loader.construct_document(root)
    except DuplicateKey as exc:
        raise InputError(f"{exc.key!r} appears twice in one mapping (YAML keeps only the last); "
                         "delete one", path, exc.line) from None
    except yaml.reader.ReaderError as exc:   # a character YAML does not allow: no mark, a position
        code = exc.character if isinstance(exc.character, int) else ord(exc.character)
        raise InputError(f"not valid YAML: {exc.reason} (U+{code:04X})", path,
                         text[:exc.position].count("\n") + 1) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        what = ", ".join(p for p in (getattr(exc, "context", None), getattr(exc, "problem", None)) if p)
        raise InputError(f"not valid YAML: {what or type(exc).__name__}", path,
                         None if mark is None else mark.line + 1) from None
    except RecursionError:
        raise InputError("nested too deeply", path) from None
    except ValueError as exc:   # an integer past Python's digit limit, a date like 2020-13-45
        raise InputError(f"a value YAML cannot read ({str(exc).split(';')[0]})", path) from None
    finally:
        if loader is not None:
            loader.dispose()
    return value, _key_lines(root)


def _key_lines(root: Any) -> dict[tuple[str, ...], int]:
    """The lines of the keys of a mapping and of the mappings in it."""
    import yaml

    lines: dict[tuple[str, ...], int] = {}
    if not isinstance(root, yaml.MappingNode):
        return lines
    for key_node, value_node in root.value:
        section = str(key_node.value)
        lines[(section,)] = key_node.start_mark.line + 1
        if isinstance(value_node, yaml.MappingNode):
            for inner, _ in value_node.value:
                lines[(section, str(inner.value))] = inner.start_mark.line + 1
    return lines


def read_yaml(path, what: str) -> Any:
    """A user's YAML file (``what`` names its kind in messages), read and parsed."""
    return parse_yaml(read_input_bytes(path, what), str(path))


class DuplicateKey(Exception):
    """A mapping names a key twice: PyYAML would keep the last value without a word."""

    def __init__(self, key: Any, line: int):
        super().__init__(key)
        self.key, self.line = key, line


def _unique_keys_loader():
    """yaml.SafeLoader that refuses a key given twice in one mapping."""
    import yaml

    class UniqueKeyLoader(yaml.SafeLoader):
        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:     # the keys as written (a merge, <<: *base, may be overridden)
                if not isinstance(key_node, yaml.ScalarNode) or key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                if (key_node.tag, key_node.value) in seen:
                    raise DuplicateKey(key_node.value, key_node.start_mark.line + 1)
                seen.add((key_node.tag, key_node.value))
            return super().construct_mapping(node, deep)

    return UniqueKeyLoader
