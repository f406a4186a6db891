"""What a sweep may set for each command, and strict checks of the values.

The option names, types and defaults of `train` and `glue` have one home, the
click commands themselves; this module only reads them.  `run` trials set
`.prm` keys, whose kinds come from the `.prm` reader's key table.
"""

from __future__ import annotations

import difflib
import math
import re
from dataclasses import dataclass
from typing import Any, Dict, Optional, Tuple

import click

from bpsom_core.errors import InputError, printable_line, shown

# options a sweep sets itself (or that make no sense per trial)
_RESERVED = {
    "train": {"output-dir", "force", "no-report", "json", "quiet", "seed"},
    "glue": {"task", "output-dir", "seed", "progress", "set"},
}
METRICS = {
    "train": ("accuracy", "mse", "train_accuracy", "best_epoch", "epochs_run", "units_kept"),
    "run": ("accuracy", "val_accuracy", "mse", "best_epoch", "epochs_run", "units_kept"),
}


PATH_METAVARS = ("PATH|NAME", "DIR|SPEC")   # options that name files (or a hub name, a files spec)
SET_OPTION = "set"   # the param of a glue configuration key: the trial gets --set KEY=VALUE
SEEDED_KEYS = ("training.seed",)   # set by the spec's seeds, as the seed option


@dataclass(frozen=True)
class OptionKind:
    """One settable option: its name in the spec, the command's parameter name, and how to check a value."""

    name: str
    param: str
    kind: str                      # int, float, str, bool, choice, numbers (a .prm list key)
    choices: Tuple[str, ...] = ()
    count: int = 1
    nullable: bool = False         # null is a value (an optional configuration key left unset)

    def check(self, value: Any) -> Optional[str]:
        """None if ``value`` fits, else what is wrong (one line)."""
        if value is None and self.nullable:
            return None
        if isinstance(value, str) and not value.isprintable():
            # it would reach the summary table, the plots and the trials' command lines as it is
            return f"holds a control or invisible character: {printable_line(shown(value))}"
        is_num = isinstance(value, (int, float)) and not isinstance(value, bool)
        if self.kind == "int" and not (isinstance(value, int) and not isinstance(value, bool)):
            return f"expected an integer, got {shown(value)}"
        if self.kind == "float" and not is_num:
            return f"expected a number, got {shown(value)}"
        if self.kind == "bool" and not isinstance(value, bool):
            return f"expected true or false, got {shown(value)}"
        if self.kind == "choice" and value not in self.choices:
            return f"expected one of {', '.join(self.choices)}, got {shown(value)}"
        if self.kind == "path" and not isinstance(value, str):
            return f"expected a file or directory name, got {shown(value)}"
        if self.kind == "str" and not (isinstance(value, str) or is_num):
            return f"expected a text value, got {shown(value)}"
        if self.kind == "text" and not isinstance(value, str):
            return f"expected a text value, got {shown(value)}"
        if self.kind == "ints":
            if not (isinstance(value, int) and not isinstance(value, bool)) and \
                    not (isinstance(value, str) and re.fullmatch(r"\s*\d+(\s*,\s*\d+)*\s*", value)):
                return f"expected an integer or comma-separated integers, got {shown(value)}"
        if self.kind == "numbers":
            parts = str(value).split() if isinstance(value, str) else value
            if not isinstance(parts, list) or len(parts) != self.count or \
                    not all(isinstance(p, int) and not isinstance(p, bool) or str(p).lstrip("-").isdigit()
                            for p in parts):
                return f"expected {self.count} integers, got {shown(value)}"
        return None


    def normalise(self, value: Any) -> Any:
        """The value a trial gets: ``2e-5`` (PyYAML reads it as text) as a number for a number
        option, ``8.0`` as ``8`` for an integer one; anything else unchanged (check() judges it)."""
        if self.kind == "float" and isinstance(value, str):
            try:
                number = float(value)
            except ValueError:
                return value
            return number if math.isfinite(number) else value
        if self.kind == "int" and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


def _click_options(command: click.Command, reserved: set) -> Dict[str, OptionKind]:
    out = {}
    for p in command.params:
        if not isinstance(p, click.Option):
            continue
        longs = [o[2:] for o in p.opts if o.startswith("--")]
        if not longs or longs[0] in reserved or longs[0] == "help":
            continue
        if p.is_flag:
            kind, choices = "bool", ()
        elif isinstance(p.type, click.Choice):
            kind, choices = "choice", tuple(p.type.choices)
        elif p.type is click.INT or isinstance(p.type, click.IntRange):
            kind, choices = "int", ()
        elif p.type is click.FLOAT or isinstance(p.type, click.FloatRange):
            kind, choices = "float", ()
        else:
            kind, choices = "str", ()
        if isinstance(p.type, click.Path) or p.metavar in PATH_METAVARS:
            kind = "path"
        out[longs[0]] = OptionKind(longs[0], p.name, kind, choices)
    return out


def option_table(command: str) -> Dict[str, OptionKind]:
    """Every option a sweep of ``command`` may set, by the name the spec uses."""
    if command == "train":
        from bpsom.cli.train_cmd import train
        table = _click_options(train, _RESERVED["train"])
        for name in ("hidden", "som"):            # text options that hold integers
            table[name] = OptionKind(name, table[name].param, "ints")
        return table
    if command == "glue":
        from bpsom.cli.glue_cmd import glue
        table = _click_options(glue, _RESERVED["glue"])
        table["mode"] = OptionKind("mode", "mode", "choice", ("bpsom", "baseline"))
        return {**table, **_glue_config_keys()}
    from bpsom_core.readers.prm import _SEQUENCE
    kinds = {"d": "int", "f": "float", "s": "str"}
    out = {}
    for key, _attr, kind, count in _SEQUENCE:
        if key != "SEED":
            out[key] = OptionKind(key, key, "numbers" if count > 1 else kinds[kind], count=count)
    return out


def _glue_config_keys() -> Dict[str, OptionKind]:
    """The configuration keys (``bpsom.som_error_weight``, ...), passed to a trial as ``--set KEY=VALUE``."""
    try:
        from bpsom_bert.config import config_keys
    except ImportError:
        return {}
    kinds = {"str": "text"}   # a configuration text key takes text only (the options' str also takes numbers)
    return {name: OptionKind(name, SET_OPTION, "choice" if choices else kinds.get(kind, kind), tuple(choices),
                             nullable=nullable)
            for name, (kind, choices, nullable) in config_keys().items() if name not in SEEDED_KEYS}


def suggest(name: str, known) -> str:
    """' (did you mean X?)' when a close name exists."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]}?)" if close else ""


def glue_task(name: str):
    """The GLUE task spec, or an InputError naming the extra that `glue` needs."""
    try:
        from bpsom_bert.data import get_task
    except ImportError:
        raise InputError("glue sweeps need the bert extra: pip install 'bpsom[bert]'") from None
    return get_task(name)


def metric_names(command: str, data: Any) -> Tuple[str, ...]:
    """The metric columns a trial of ``command`` reports."""
    if command != "glue":
        return METRICS[command]
    names = []
    for task in (data if isinstance(data, list) else [data]):
        names += [m for m in glue_task(str(task)).metrics if m not in names]
    return (*names, "best_epoch", "units_kept")
