"""The sweep spec (YAML): read it, check every key and value, expand it into trials.

Everything is checked before any trial starts, so a typo costs a second, not
a night on a cluster.  Trial ids are hashes of what a trial computes, so a
rerun of the same spec finds the trials it already finished.
"""

from __future__ import annotations

import hashlib
import itertools
import math
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import numpy as np

from bpsom_core.errors import InputError, expand_home, shown
from bpsom_core.params import MAX_SEED
from bpsom_core.yaml_input import read_yaml
from .options import SEEDED_KEYS, OptionKind, glue_task, metric_names, option_table, suggest

COMMANDS = ("train", "run", "glue")
MAX_TRIALS = 100_000   # past this, expanding and recording the trials alone takes minutes and GBs
TOP_KEYS = ("command", "data", "options", "grid", "random", "seeds", "metric")
RANDOM_KEYS = ("samples", "seed", "params")
DISTRIBUTIONS = ("uniform", "loguniform", "choice", "randint")


@dataclass(frozen=True)
class Trial:
    """One fit: the swept values, the seed and (train with --cv) the fold."""

    trial_id: str
    command: str
    data: str
    options: Dict[str, Any]          # fixed and swept options together
    params: Dict[str, Any]           # the swept ones only (the summary's columns)
    seed: int
    fold: Optional[int] = None


@dataclass
class SweepSpec:
    """A checked spec; :meth:`trials` expands it."""

    path: str
    command: str
    data: Any                        # a string, or a list (then swept as the 'data' column)
    options: Dict[str, Any]
    grid: Dict[str, List[Any]]
    random: Dict[str, Any]
    seeds: List[int]
    metric: str
    metrics: Tuple[str, ...] = field(default=())

    @property
    def param_names(self) -> List[str]:
        """The swept columns, in spec order."""
        names = ["data"] if isinstance(self.data, list) else []
        return names + list(self.grid) + list(self.random.get("params", {}))

    @property
    def folds(self) -> List[Optional[int]]:
        cv = self.options.get("cv") if self.command == "train" else None
        return list(range(1, cv + 1)) if cv else [None]

    def settings(self) -> List[Dict[str, Any]]:
        """Every combination of the grid (and data), times the random samples."""
        axes = ({"data": self.data} if isinstance(self.data, list) else {}) | self.grid
        combos = [dict(zip(axes, values)) for values in itertools.product(*axes.values())] or [{}]
        samples = self.random.get("samples", 0)
        if not samples:
            return combos
        rng = np.random.default_rng(self.random.get("seed", 0))
        out = []
        for combo in combos:
            for _ in range(samples):
                out.append(combo | {name: _draw(rng, dist) for name, dist in self.random["params"].items()})
        return out

    def trials(self) -> List[Trial]:
        """All trials: settings x seeds x folds, in a stable order."""
        out = []
        for setting in self.settings():
            data = setting.get("data", self.data)
            options = {**self.options, **{k: v for k, v in setting.items() if k != "data"}}
            for seed in self.seeds:
                for fold in self.folds:
                    key = json.dumps([self.command, data, options, seed, fold], sort_keys=True, default=str)
                    tid = hashlib.sha1(key.encode()).hexdigest()[:12]
                    out.append(Trial(tid, self.command, str(data), options, setting, seed, fold))
        return out


def _draw(rng: np.random.Generator, dist: Dict[str, Any]) -> Any:
    (kind, arg), = dist.items()
    if kind == "uniform":
        return round(float(rng.uniform(arg[0], arg[1])), 6)
    if kind == "loguniform":
        return round(float(np.exp(rng.uniform(np.log(arg[0]), np.log(arg[1])))), 6)
    if kind == "randint":
        return int(rng.integers(arg[0], arg[1] + 1))
    return arg[int(rng.integers(len(arg)))]


def load_spec(path: Path, base_dir: Optional[Path] = None) -> SweepSpec:
    """Read and check a spec file; data paths are made absolute (relative to the spec's directory)."""
    path = Path(path)
    raw = read_yaml(path, "sweep spec")
    return check_spec(raw, str(path), base_dir or path.resolve().parent)


def check_spec(raw: Any, where: str, base_dir: Path) -> SweepSpec:
    """Check a parsed spec; every problem is one InputError naming the key."""
    def fail(key: str, msg: str) -> InputError:
        return InputError(msg, where, field=key)

    if not isinstance(raw, dict):
        raise fail("spec", "expected a mapping of keys (command, data, options, grid, seeds, metric)")
    for key in raw:
        if key not in TOP_KEYS:
            raise fail(str(key), f"unknown key{suggest(str(key), TOP_KEYS)}; allowed: {', '.join(TOP_KEYS)}")
    command = raw.get("command")
    if command not in COMMANDS:
        raise fail("command", f"expected one of {', '.join(COMMANDS)}, got {shown(command)}")
    if "data" not in raw and command != "train":
        raise fail("data", f"'{command}' sweeps need data (a .prm file for run, a task for glue)")
    data = _check_data(command, raw.get("data", "wine"), base_dir, fail)
    table = option_table(command)

    def check_option(key: str, name: Any, value: Any) -> Any:
        """The value as a trial gets it, or an InputError naming ``key.name``."""
        if command == "glue" and name == "mode" and value == "both":
            raise fail(f"{key}.mode", "a trial trains one head: sweep mode over [bpsom, baseline] instead of both")
        if name in SEEDED_KEYS:
            raise fail(f"{key}.{name}", "set by the spec's seeds list")
        if not isinstance(name, str) or name not in table:
            raise fail(f"{key}.{name}", f"unknown option of 'bpsom {command}'{suggest(str(name), table)}")
        value = table[name].normalise(value)
        problem = table[name].check(value)
        if problem:
            raise fail(f"{key}.{name}", problem)
        return value

    def absolute(key: str, name: str, value: Any) -> Any:
        """Trials run in other processes: paths relative to the spec are made absolute.  A path
        that is not there fails every trial alike, so it is refused here."""
        if table[name].kind != "path":
            return value
        if not value.strip():
            raise fail(f"{key}.{name}", "is empty; name a file or directory")
        found = base_dir / expand_home(value)
        if found.exists():
            if name == "config" and not found.is_file():
                raise fail(f"{key}.{name}", f"not a file: {value}")
            if name in ("data-dir", "model") and not found.is_dir():
                raise fail(f"{key}.{name}", f"not a directory: {value}")
            if name == "model" and not (found / "config.json").is_file():
                raise fail(f"{key}.{name}", f"not a model directory (no config.json in it): {value}")
            return str(found.resolve())
        if not _maybe_elsewhere(name, value):
            raise fail(f"{key}.{name}", f"no such file or directory: {value}")
        if name == "model" and not _hub_name(value):
            raise fail(f"{key}.{name}", f"neither a directory nor a valid hub name ('org/name'): {value}")
        return value

    options = _mapping(raw.get("options", {}), "options", fail)
    for name, value in options.items():
        options[name] = absolute("options", name, check_option("options", name, value))
    grid = _mapping(raw.get("grid", {}), "grid", fail)
    for name, values in grid.items():
        if not isinstance(values, list) or not values:
            raise fail(f"grid.{name}", "expected a non-empty list of values")
        if name == "cv":
            raise fail("grid.cv", "the number of folds cannot be swept; set it under options")
        values = [check_option("grid", name, value) for value in values]
        if (i := _first_repeat(values)) is not None:
            raise fail(f"grid.{name}", f"repeats a value ({shown(values[i])}); each value is tried once")
        grid[name] = [absolute("grid", name, v) for v in values]
        if name in options:
            raise fail(f"grid.{name}", "set both under options and grid")
    random = _check_random(raw.get("random"), table, grid, options, check_option, fail)
    if command == "glue":
        _check_one_name_per_setting(options, grid, random, fail)
    seeds = _check_seeds(raw.get("seeds", [0]), fail)
    if command == "train" and "cv" in options:
        _check_cv(options, data, fail)
    per_sample = math.prod(len(v) for v in grid.values()) * len(seeds) \
        * (len(data) if isinstance(data, list) else 1) * (options.get("cv", 1) if command == "train" else 1)
    n_trials = per_sample * max(1, random.get("samples", 0))
    if n_trials > MAX_TRIALS:
        samples = per_sample <= MAX_TRIALS and bool(random)
        raise fail("random.samples" if samples else "grid",
                   f"{n_trials:,} trials is more than one sweep takes ({MAX_TRIALS:,}); "
                   + ("draw fewer samples" if samples else "split it or sample with 'random'"))
    metrics = metric_names(command, data)
    metric = raw.get("metric", metrics[0])
    if metric not in metrics:
        raise fail("metric", f"'{command}' trials report {', '.join(metrics)}; got {shown(metric)}")
    return SweepSpec(where, command, data, options, grid, random, list(dict.fromkeys(seeds)), metric, metrics)


def _maybe_elsewhere(name: str, value: str) -> bool:
    """A path option's value that need not exist here: a hub model name (``org/model``, not
    ``./dir`` or ``/dir``), or a data files spec (``train=a.csv,validation=b.csv``)."""
    if name == "model":
        return not value.startswith(("/", ".", "~")) and value.count("/") <= 1
    return name == "data-dir" and "=" in value


def _hub_name(value: str) -> bool:
    """Whether ``value`` is spelled as the hub spells repository names (checked here, where a bad
    one would fail every trial alike; whether the hub has it, each trial finds out)."""
    try:
        from huggingface_hub.errors import HFValidationError
        from huggingface_hub.utils import validate_repo_id
    except ImportError:   # without the bert extra every glue trial says what to install
        return True
    try:
        validate_repo_id(value)
    except HFValidationError:
        return False
    return True


def _check_seeds(seeds: Any, fail) -> List[int]:
    """The spec's seeds: one integer or a list, each one numpy and torch accept."""
    if isinstance(seeds, int) and not isinstance(seeds, bool):
        seeds = [seeds]
    if not isinstance(seeds, list) or not seeds:
        raise fail("seeds", f"expected a non-empty list of integers in 0..{MAX_SEED}, got {shown(seeds)}")
    for seed in seeds:
        if not (isinstance(seed, int) and not isinstance(seed, bool) and 0 <= seed <= MAX_SEED):
            raise fail("seeds", f"expected a list of integers in 0..{MAX_SEED}, got {shown(seed)}")
    return seeds


def _check_one_name_per_setting(options, grid, random, fail) -> None:
    """A glue option and its configuration key (epochs, training.epochs) set together: the option
    would silently win in every trial while the results recorded the key's values."""
    from bpsom.cli.glue_cmd import OPTION_KEYS

    where = {**{n: "options" for n in options}, **{n: "grid" for n in grid},
             **{n: "random.params" for n in random.get("params", {})}}
    for option, (section, key) in OPTION_KEYS.items():
        dotted = f"{section}.{key}"
        if option in where and dotted in where:
            raise fail(f"{where[dotted]}.{dotted}", f"the same setting as {where[option]}.{option}; set it once")


def _mapping(value: Any, key: str, fail) -> Dict[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise fail(key, "expected a mapping of option names to values")
    return dict(value)


def _check_data(command: str, data: Any, base_dir: Path, fail) -> Any:
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(d, str) and d for d in items):
        raise fail("data", "expected a file name or task name (or a list of them)")
    out = []
    for item in items:
        if command == "glue" or (command == "train" and (item == "wine" or item.startswith("sklearn:"))):
            if command == "glue":
                try:
                    glue_task(item)
                except InputError as exc:
                    raise fail("data", exc.message) from None
            elif item.startswith("sklearn:") and item[8:] not in SKLEARN_SETS:
                raise fail("data", f"unknown scikit-learn data set {item[8:]!r}; known: {', '.join(SKLEARN_SETS)}")
            out.append(item)
            continue
        p = expand_home(item)
        p = p if p.is_absolute() else base_dir / p
        if not p.is_file():
            raise fail("data", f"no such file: {item}")
        out.append(str(p.resolve()))
    if (i := _first_repeat(out)) is not None:
        raise fail("data", f"repeats a value ({shown(out[i])}); each data set is tried once")
    return out if isinstance(data, list) else out[0]


SKLEARN_SETS = ("iris", "wine", "breast_cancer", "digits")


def _check_cv(options: Dict[str, Any], data: Any, fail) -> None:
    """2..(smallest class) folds, checked on the data (read once here): too many folds fail every
    trial alike, and a cv of 100000 would queue 100000 failing trials."""
    from bpsom.cli.train_cmd import check_cv_fits
    from .trials import train_table

    cv = options["cv"]
    if isinstance(cv, bool) or cv < 2:
        raise fail("options.cv", f"needs at least 2 folds, got {cv}")
    for item in data if isinstance(data, list) else [data]:
        table = train_table(item, options)     # a bad data file is its own error, naming the file
        try:
            check_cv_fits(table, cv, item)
        except InputError as exc:
            raise fail("options.cv", exc.one_line()) from None


def _check_random(raw: Any, table: Dict[str, OptionKind], grid, options, check_option, fail) -> Dict[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, dict):
        raise fail("random", "expected a mapping with samples, seed and params")
    for key in raw:
        if key not in RANDOM_KEYS:
            raise fail(f"random.{key}", f"unknown key{suggest(str(key), RANDOM_KEYS)}; allowed: {', '.join(RANDOM_KEYS)}")
    samples = raw.get("samples", 1)
    if not isinstance(samples, int) or isinstance(samples, bool) or samples < 1:
        raise fail("random.samples", f"expected a positive integer, got {shown(samples)}")
    seed = raw.get("seed", 0)
    if not isinstance(seed, int) or isinstance(seed, bool) or not 0 <= seed <= MAX_SEED:
        raise fail("random.seed", f"expected an integer in 0..{MAX_SEED}, got {shown(seed)}")
    params = _mapping(raw.get("params"), "random.params", fail)
    if not params:
        raise fail("random.params", "name at least one option and its distribution")
    for name, dist in params.items():
        key = f"random.params.{name}"
        if name in grid or name in options:
            raise fail(key, "also set under grid or options")
        if not isinstance(dist, dict) or len(dist) != 1 or next(iter(dist)) not in DISTRIBUTIONS:
            raise fail(key, f"expected one of {{{', '.join(DISTRIBUTIONS)}: ...}}")
        (kind, arg), = dist.items()
        if kind == "choice":
            if not isinstance(arg, list) or not arg:
                raise fail(key, "choice needs a non-empty list")
            for value in arg:
                check_option("random.params", name, value)
            continue
        problem = _bounds_problem(kind, arg)
        if problem:
            raise fail(key, problem)
        check_option("random.params", name, int(arg[0]) if kind == "randint" else float(arg[0]))
    return {"samples": samples, "seed": seed, "params": params}


def _bounds_problem(kind: str, arg: Any) -> str:
    """Why [low, high] cannot be drawn from (numpy overflows on an infinite or too wide range), or ''."""
    need = f"{kind} needs [low, high]: finite numbers with low < high"
    if kind == "randint":
        need = f"randint needs [low, high]: integers in {-2**63}..{2**63 - 2} with low < high"
    elif kind == "loguniform":
        need += " and low > 0"
    if not (isinstance(arg, list) and len(arg) == 2):
        return need
    low, high = arg
    if kind == "randint":
        ok = all(isinstance(a, int) and not isinstance(a, bool) and -2**63 <= a <= 2**63 - 2 for a in arg)
    else:
        ok = all(isinstance(a, (int, float)) and not isinstance(a, bool) and math.isfinite(a) for a in arg) \
            and math.isfinite(float(high) - float(low))
    if not ok or not low < high or (kind == "loguniform" and low <= 0):
        return f"{need}, got {shown(low)} and {shown(high)}"
    return ""


def _first_repeat(values: List[Any]) -> Optional[int]:
    """Where a value first appears for the second time (a repeat would run the same trials twice),
    or None; an index, so that a repeated None is found too."""
    for i, value in enumerate(values):
        if value in values[:i]:
            return i
    return None
