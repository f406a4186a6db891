"""The YAML run configuration of `bpsom glue`, validated with one-line errors.

Section and key names are those of the 2026 adaptation's configs
(``bpsom.hidden_size``, ``som_grid_size``, ``som_error_weight``, ...), so its
YAML files load unchanged; a few keys are ours (``bpsom.relabel``,
``training.precision``, ...).  Every problem is reported as an
:class:`~bpsom_core.errors.InputError` naming the file, the line and the key;
a misspelt key lists the allowed ones.
"""

from __future__ import annotations

import copy
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Optional

from bpsom_core.errors import InputError, shown
from bpsom_core.params import MAX_EPOCHS, MAX_SEED


@dataclass
class ModelSection:
    """Which encoder, and how the [CLS] vector reaches the head."""

    name: str = "bert-base-uncased"
    dropout: float = 0.1
    max_length: int = 128


@dataclass
class BPSOMSection:
    """The BP-SOM head: one sigmoid hidden layer carrying one square SOM."""

    hidden_size: int = 128
    som_grid_size: int = 20
    som_error_weight: float = 0.25
    som_lr_max: float = 0.20
    som_lr_min: float = 0.05
    som_context_max: int = 2
    som_context_min: int = 0
    reliability_threshold: float = 0.95
    relabel: str = "pass"          # "pass": labelling pass over train (the C); "epoch": counts gathered while training
    som_update: str = "inorder"    # "inorder": per-example order as the C; "summed": one summed step per batch
    som_init: str = "pca"          # "pca": ordered map on the activations' 2 main axes; "random": the C's (-0.5, 1.5]
    som_input: str = "dropout"     # "dropout": the SOM sees the units as trained (dropout on [CLS]); "clean": without

    @property
    def threshold_percent(self) -> int:
        """The threshold as the C's integer percentage (0.95 -> 95)."""
        return int(round(100 * self.reliability_threshold))


@dataclass
class PruningSection:
    """Variance pruning of hidden units at epoch ends (the C's PRUNE_THRESHOLD)."""

    enabled: bool = True
    threshold: float = 0.02


@dataclass
class TrainingSection:
    """Optimiser, schedule, precision and stopping rule."""

    epochs: int = 10
    batch_size: int = 32
    eval_batch_size: int = 256     # labelling and dev passes: no gradients, so larger batches
    learning_rate: float = 2e-5
    head_learning_rate: Optional[float] = None
    weight_decay: float = 0.01
    warmup_steps: int = 500
    warmup_ratio: Optional[float] = None   # warm-up as a fraction of all steps; wins over warmup_steps
    early_stopping_patience: int = 3
    gradient_accumulation_steps: int = 1
    max_grad_norm: float = 1.0
    precision: str = "auto"        # auto | fp32 | bf16 | fp16 (bf16/fp16 only on CUDA)
    seed: int = 42
    group_by_length: bool = True   # batches of similar length (sorted inside shuffled chunks)
    log_interval: int = 50         # steps between progress reports (each reads the device once)


@dataclass
class RunConfig:
    """Everything one `bpsom glue` run needs besides task, mode and paths."""

    model: ModelSection = field(default_factory=ModelSection)
    bpsom: BPSOMSection = field(default_factory=BPSOMSection)
    pruning: PruningSection = field(default_factory=PruningSection)
    training: TrainingSection = field(default_factory=TrainingSection)

    def to_dict(self) -> dict:
        """Plain nested dict (for JSON logs and saving next to results)."""
        return dataclasses.asdict(self)


def warmup_steps(t: TrainingSection, total_steps: int) -> int:
    """Warm-up steps: ``warmup_ratio`` of all steps when set, else ``warmup_steps``, never more than all."""
    if t.warmup_ratio is not None:
        return min(total_steps, int(round(t.warmup_ratio * total_steps)))
    return min(t.warmup_steps, total_steps)


_SECTIONS = {"model": ModelSection, "bpsom": BPSOMSection,
             "pruning": PruningSection, "training": TrainingSection}
_CHOICES = {("bpsom", "relabel"): ("pass", "epoch"),
            ("bpsom", "som_update"): ("inorder", "summed"),
            ("bpsom", "som_init"): ("pca", "random"),
            ("bpsom", "som_input"): ("dropout", "clean"),
            ("training", "precision"): ("auto", "fp32", "bf16", "fp16")}


def config_keys() -> dict[str, tuple[str, tuple, bool]]:
    """Every ``SECTION.KEY`` of a run configuration: its type (int, float, str, bool), its choices,
    and whether null is allowed (the optional keys)."""
    out = {}
    for sec, cls in _SECTIONS.items():
        for f in dataclasses.fields(cls):
            ftype = str(f.type)
            out[f"{sec}.{f.name}"] = (ftype.replace("Optional[", "").rstrip("]"), _CHOICES.get((sec, f.name), ()),
                                      ftype.startswith("Optional["))
    return out


def _coerce(value: Any, ftype: str, where: str, path, line) -> Any:
    """Convert one YAML value to the field's type or raise a clear error."""
    ftype = ftype.replace("Optional[", "").rstrip("]")
    if ftype == "bool":
        if isinstance(value, bool):
            return value
        raise InputError(f"expected true or false, got {shown(value)}", path, line, where)
    if ftype == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                return int(value)
            raise InputError(f"expected an integer, got {shown(value)}", path, line, where)
        return value
    if ftype == "float":
        if isinstance(value, (bool, list, dict)):
            raise InputError(f"expected a number, got {shown(value)}", path, line, where)
        try:
            number = float(value)  # PyYAML reads "2e-5" as a string: accept it
        except (TypeError, ValueError):
            raise InputError(f"expected a number, got {shown(value)}", path, line, where) from None
        except OverflowError:
            raise InputError(f"{shown(value)} is too large for a number", path, line, where) from None
        if not math.isfinite(number):
            raise InputError(f"must be a finite number, got {shown(value)}", path, line, where)
        return number
    if ftype == "str":
        if not isinstance(value, str):
            raise InputError(f"expected a string, got {shown(value)}", path, line, where)
        return value
    raise AssertionError(ftype)  # pragma: no cover


def _check_ranges(cfg: RunConfig, lines: dict, path) -> None:
    """The same ranges for every source of configuration."""
    def bad(sec: str, key: str, msg: str) -> InputError:
        return InputError(msg, path, lines.get((sec, key)), f"{sec}.{key}")

    b, p, t, m = cfg.bpsom, cfg.pruning, cfg.training, cfg.model
    if b.hidden_size < 1:
        raise bad("bpsom", "hidden_size", "must be at least 1")
    if b.som_grid_size < 0:
        raise bad("bpsom", "som_grid_size", "must be 0 (no SOM) or more")
    if not 0.0 <= b.som_error_weight <= 1.0:
        raise bad("bpsom", "som_error_weight", "must lie in [0, 1]")
    for k in ("som_lr_max", "som_lr_min"):
        if not 0.0 <= getattr(b, k) <= 1.0:
            raise bad("bpsom", k, "must lie in [0, 1]")
    if b.som_lr_min > b.som_lr_max:
        raise bad("bpsom", "som_lr_min", "must not exceed som_lr_max")
    for k in ("som_context_max", "som_context_min"):
        if getattr(b, k) < 0:
            raise bad("bpsom", k, "must be 0 or more")
    if b.som_context_min > b.som_context_max:
        raise bad("bpsom", "som_context_min", "must not exceed som_context_max")
    if not 0.0 <= b.reliability_threshold <= 1.0:
        raise bad("bpsom", "reliability_threshold",
                  "must be a fraction in [0, 1] (0.95 is the C's RELIABILITY_THRESHOLD 95)")
    if p.threshold < 0:
        raise bad("pruning", "threshold", "must be 0 or more")
    for k in ("epochs", "batch_size", "eval_batch_size", "gradient_accumulation_steps", "log_interval"):
        if getattr(t, k) < 1:
            raise bad("training", k, "must be at least 1")
    if t.epochs > MAX_EPOCHS:
        raise bad("training", "epochs", f"must be at most {MAX_EPOCHS}")
    for k in ("warmup_steps", "early_stopping_patience"):
        if getattr(t, k) < 0:
            raise bad("training", k, "must be 0 or more")
    if t.warmup_ratio is not None and not 0.0 <= t.warmup_ratio <= 1.0:
        raise bad("training", "warmup_ratio", "must lie in [0, 1]")
    for k in ("weight_decay", "max_grad_norm"):
        if not getattr(t, k) >= 0:
            raise bad("training", k, "must be 0 or more")
    if not 0 <= t.seed <= MAX_SEED:
        raise bad("training", "seed", f"must be 0..{MAX_SEED}")
    if t.learning_rate <= 0:
        raise bad("training", "learning_rate", "must be positive")
    if t.head_learning_rate is not None and t.head_learning_rate <= 0:
        raise bad("training", "head_learning_rate", "must be positive")
    if not 0.0 <= m.dropout < 1.0:
        raise bad("model", "dropout", "must lie in [0, 1)")
    if m.max_length < 4:
        raise bad("model", "max_length", "must be at least 4")


def config_from_dict(data: Any, path: Optional[str] = None,
                     lines: Optional[dict] = None) -> RunConfig:
    """Build a validated :class:`RunConfig` from nested dicts (as read from YAML)."""
    lines = lines or {}
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise InputError("the configuration must be a mapping of sections", path, 1)
    cfg = RunConfig()
    for sec, body in data.items():
        if sec not in _SECTIONS:
            raise InputError(f"unknown section '{sec}'; allowed sections: {', '.join(_SECTIONS)}",
                             path, lines.get((str(sec),)), str(sec))
        if body is None:
            continue
        if not isinstance(body, dict):
            raise InputError("expected a mapping of keys", path, lines.get((sec,)), sec)
        for key, value in body.items():
            _set_key(cfg, sec, key, value, path, lines.get((sec, str(key))))
    _check_ranges(cfg, lines, path)
    return cfg


def with_overrides(cfg: RunConfig, overrides: dict, where: str = "command line",
                   keep_none: bool = False) -> RunConfig:
    """A copy of ``cfg`` with ``{(section, key): value}`` set, checked as a file's keys.

    None values are skipped (an option not given), or with ``keep_none`` set
    (``--set training.warmup_ratio=null`` clears an optional key).
    """
    out = copy.deepcopy(cfg)
    for (sec, key), value in overrides.items():
        if sec not in _SECTIONS:
            raise InputError(f"unknown section '{sec}'; allowed sections: {', '.join(_SECTIONS)}",
                             where, None, f"{sec}.{key}")
        if value is not None or keep_none:
            _set_key(out, sec, key, value, where, None)
    _check_ranges(out, {}, where)
    return out


def _set_key(cfg: RunConfig, sec: str, key: Any, value: Any, path, line) -> None:
    """One key of one section: known, of its type, among its choices."""
    target = getattr(cfg, sec)
    fields = {f.name: f for f in dataclasses.fields(target)}
    where = f"{sec}.{key}"
    if key not in fields:
        raise InputError(f"unknown key '{key}'; allowed keys in '{sec}': {', '.join(fields)}", path, line, where)
    ftype = str(fields[key].type)
    if value is None and ftype.startswith("Optional"):
        setattr(target, key, None)
        return
    value = _coerce(value, ftype, where, path, line)
    choices = _CHOICES.get((sec, key))
    if choices and value not in choices:
        raise InputError(f"must be one of {', '.join(choices)}, got {shown(value)}", path, line, where)
    setattr(target, key, value)


def load_config(path: str | Path) -> RunConfig:
    """Read and validate a YAML run configuration."""
    from bpsom_core.yaml_input import parse_yaml_with_key_lines

    p = Path(path)
    try:
        raw = p.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read configuration: {exc.strerror or exc}", str(p)) from None
    data, key_lines = parse_yaml_with_key_lines(raw, str(p))
    if data is None:   # most likely the wrong file, or one not yet written: the defaults would run unasked
        raise InputError(f"holds no settings (empty, comments only or null); give sections "
                         f"({', '.join(_SECTIONS)}) or leave --config out", str(p))
    return config_from_dict(data, str(p), key_lines)
