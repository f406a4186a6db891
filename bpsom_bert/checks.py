"""Checks at the edge of `bpsom glue`, before any model is loaded or any step is trained.

What the user names must be usable: input files are regular files (a FIFO
or a device would block or never end), the output directory can be written,
a local encoder directory exists and holds safetensors weights (pickle-only
checkpoints can run code when loaded and are refused), the configuration's
numbers are finite, and the head's sizes fit in memory.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Iterable, Optional

from bpsom_core.atomic import check_output_dir
from bpsom_core.errors import InputError, check_regular_file, expand_home
from bpsom_core.memory import check_fits, network_bytes

# The smallest an encoder layer's activations can be per token and unit (one float32):
# a batch that does not fit even this cannot run.
ACTIVATION_BYTES_PER_WIDTH = 4
PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")
SAFETENSORS = ".safetensors"


def check_config_file(path: Path) -> None:
    """The YAML configuration must be a regular file (a FIFO would block the read)."""
    check_regular_file(path, "configuration file")


def looks_like_path(name: str) -> bool:
    """A --model value meant as a directory rather than a hub name ('org/name')."""
    return (name.startswith(("/", "./", "../", "~")) or name.endswith("/") or name.count("/") > 1
            or os.sep != "/" and os.sep in name)


def check_model_dir(name: str) -> None:
    """A local encoder: an existing directory with a config.json and safetensors weights.

    A missing directory says so (rather than failing as an unknown hub
    repository); a directory with only pickle checkpoints is refused.  A hub
    name is checked by :mod:`bpsom_bert.hub`, and when it will load from the
    local cache, the cached copy is checked like a directory.
    """
    if not name.strip():
        raise InputError("is empty; name a model directory or a hub name ('org/name')", field="--model")
    p = expand_home(name)
    try:
        exists = p.exists()
    except OSError as exc:   # a name longer than the file system allows, say
        raise InputError(f"not usable as a directory ({exc.strerror or exc})", path=name, field="--model") from None
    if not exists:
        if looks_like_path(name):
            raise InputError("no such directory", path=name, field="--model")
        from .hub import check_hub_model
        cached = check_hub_model(name)   # None: transformers fetches it from the hub
        if cached is not None:
            _check_model_files(cached, str(cached))
        return
    _check_model_files(p, name)


def _check_model_files(p: Path, name: str) -> None:
    """The files of an encoder directory ``p`` (``name`` in messages)."""
    if not p.is_dir():
        raise InputError("not a directory; --model takes a model directory or a hub name", path=name,
                         field="--model")
    if not (p / "config.json").is_file():
        raise InputError("not a model directory: no config.json in it", path=name, field="--model")
    files = [f.name for f in p.iterdir() if f.is_file()]
    has_safe = any(f.endswith(SAFETENSORS) for f in files)
    pickles = sorted(f for f in files if f.endswith(PICKLE_SUFFIXES))
    if not has_safe and pickles:
        raise InputError(f"holds only pickle checkpoints ({', '.join(pickles)}), which can run code when "
                         f"loaded; bpsom loads safetensors weights only (convert it with save_pretrained("
                         f"..., safe_serialization=True))", path=name, field="--model")
    if not has_safe:
        raise InputError("no model weights (*.safetensors) in it", path=name, field="--model")
    check_regular_file(p / "config.json", "model file")
    check_json_object(p / "config.json")
    for f in (p / n for n in files if n.endswith(SAFETENSORS)):
        check_regular_file(f, "model file")
        check_safetensors_header(f)


def check_json_object(path: Path) -> None:
    """A model's config.json holds one JSON object (transformers' own error would be cut short)."""
    try:
        data = json.loads(path.read_bytes())
    except OSError as exc:
        raise InputError(f"cannot read model file: {exc.strerror or exc}", path=str(path)) from None
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"not valid JSON ({exc})", path=str(path)) from None
    if not isinstance(data, dict):
        raise InputError(f"expected a JSON object of settings, got {type(data).__name__}", path=str(path))


def check_safetensors_header(path: Path) -> None:
    """The header of a safetensors file: its length, its JSON, and tensors that lie inside the file.

    Cheap (the header only), and it names the file, where the library's own
    error ("header too small") would not.
    """
    size = path.stat().st_size
    with open(path, "rb") as fh:
        head = fh.read(8)
        n = int.from_bytes(head, "little") if len(head) == 8 else -1
        if n < 2 or n > size - 8:
            raise InputError("not a safetensors file: its header is missing or truncated", path=str(path))
        try:
            header = json.loads(fh.read(n))
        except (ValueError, UnicodeDecodeError):
            raise InputError("not a safetensors file: its header is not JSON", path=str(path)) from None
    data = size - 8 - n
    if not isinstance(header, dict):
        raise InputError("not a safetensors file: its header is not a JSON object", path=str(path))
    for name, info in header.items():
        if name == "__metadata__":
            continue
        offsets = info.get("data_offsets") if isinstance(info, dict) else None
        if not (isinstance(offsets, list) and len(offsets) == 2 and 0 <= offsets[0] <= offsets[1] <= data):
            raise InputError(f"tensor {name} lies outside the file: truncated or corrupt", path=str(path))


def encoder_config(name: str) -> dict:
    """The local encoder's config.json as a dict ({} for a hub name or an unreadable file)."""
    cfg = expand_home(name) / "config.json"
    try:
        data = json.loads(cfg.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _positive_int(data: dict, *keys: str) -> Optional[int]:
    value = next((data[k] for k in keys if k in data), None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else None


WIDTH_KEYS = ("hidden_size", "dim", "d_model")                # the encoder's width, by family
POSITION_KEYS = ("max_position_embeddings", "n_positions")   # tokens its position embeddings cover


def fit_to_encoder(cfg, asked: bool):
    """``(cfg, note)``: ``model.max_length`` cut to the encoder's position embeddings when it asks
    for more (a longer example would index past them), and the note to show when the user asked
    for that length (``asked``); None when there is nothing to say."""
    positions = _positive_int(encoder_config(cfg.model.name), *POSITION_KEYS)
    if positions is None or cfg.model.max_length <= positions:
        return cfg, None
    if positions < 4:
        raise InputError(f"the encoder has {positions} positions; bpsom needs at least 4 tokens per example",
                         path=cfg.model.name, field="--model")
    from .config import with_overrides

    note = (f"model.max_length {cfg.model.max_length} is more than the encoder's {positions} positions; "
            f"using {positions}") if asked else None
    return with_overrides(cfg, {("model", "max_length"): positions}), note


def _numbers(tree, where: str = "") -> Iterable[tuple]:
    if isinstance(tree, dict):
        for k, v in tree.items():
            yield from _numbers(v, f"{where}.{k}" if where else str(k))
    elif isinstance(tree, float):
        yield where, tree


def check_finite(cfg_dict: dict, path: Optional[str]) -> None:
    """NaN or infinite numbers in the configuration (YAML's .nan, .inf) are refused."""
    for key, value in _numbers(cfg_dict):
        if not math.isfinite(value):
            raise InputError(f"must be a finite number, got {value}", path=path, field=key)


def check_job(job, config_path: Optional[Path] = None) -> None:
    """Every check above, for one GlueJob (called before anything heavy is imported or loaded)."""
    cfg = job.cfg
    check_finite(cfg.to_dict(), None if config_path is None else str(config_path))
    check_output_dir(job.output_dir, "output directory")
    if job.data_dir is not None and "=" not in str(job.data_dir):   # not a train=FILE,validation=FILE spec
        d = Path(job.data_dir)
        if not d.is_dir():
            raise InputError("no such directory", str(d), field="--data-dir")
        for n in ("train.tsv", "dev.tsv", "validation.tsv"):
            if os.path.lexists(d / n):
                check_regular_file(d / n, "data file")
    check_model_dir(cfg.model.name)
    # sizes may come from the file, --set or an option: the messages name the key, not a file
    encoder = encoder_config(cfg.model.name)
    positions = _positive_int(encoder, *POSITION_KEYS)
    width = _positive_int(encoder, *WIDTH_KEYS) or 1024
    b = cfg.bpsom
    layers = [width, b.hidden_size, max(job.task.num_labels, 2)]
    check_fits(network_bytes(layers, [0], rows=1),
               f"a BP-SOM head of {b.hidden_size} units on a {width}-wide encoder", field="bpsom.hidden_size")
    check_fits(network_bytes(layers, [b.som_grid_size], rows=1),
               f"a {b.som_grid_size}x{b.som_grid_size} SOM over {b.hidden_size} units", field="bpsom.som_grid_size")
    t = cfg.training
    tokens = max(t.batch_size, t.eval_batch_size) * min(cfg.model.max_length, positions or cfg.model.max_length)
    check_fits(tokens * width * ACTIVATION_BYTES_PER_WIDTH, f"a batch of {max(t.batch_size, t.eval_batch_size)} "
               f"examples of up to {cfg.model.max_length} tokens",
               field="training.batch_size" if t.batch_size >= t.eval_batch_size else "training.eval_batch_size")
