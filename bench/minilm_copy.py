"""Copy an encoder directory with its weights in float16 (half the bytes, to carry it to
a machine without network) or widen such a copy back to float32.

Every file but ``model.safetensors`` is copied as is (config, tokenizer, vocabulary).
Rounding to float16 keeps about three significant digits of each weight, so results
from a widened copy can differ slightly from the original encoder's.

    python3 bench/minilm_copy.py half SRC_DIR DST_DIR
    python3 bench/minilm_copy.py full SRC_DIR DST_DIR
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

WEIGHTS = "model.safetensors"


def convert(src: Path, dst: Path, dtype: torch.dtype) -> int:
    """Write ``dst`` as ``src`` with floating-point weights cast to ``dtype``; returns bytes written."""
    if not (src / WEIGHTS).is_file():
        raise SystemExit(f"minilm_copy: error: {src}: no {WEIGHTS}")
    dst.mkdir(parents=True, exist_ok=True)
    for item in src.iterdir():
        if item.name == WEIGHTS:
            continue
        target = dst / item.name
        if item.is_dir():
            shutil.copytree(item, target, dirs_exist_ok=True)
        else:
            shutil.copy2(item, target)
    state = load_file(str(src / WEIGHTS))
    state = {k: (v.to(dtype) if v.is_floating_point() else v).contiguous() for k, v in state.items()}
    save_file(state, str(dst / WEIGHTS), metadata={"format": "pt"})
    return (dst / WEIGHTS).stat().st_size


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("direction", choices=("half", "full"))
    ap.add_argument("src", type=Path)
    ap.add_argument("dst", type=Path)
    args = ap.parse_args()
    size = convert(args.src, args.dst, torch.float16 if args.direction == "half" else torch.float32)
    print(f"{args.dst / WEIGHTS}: {size / 2**20:.1f} MiB")


if __name__ == "__main__":
    main()
