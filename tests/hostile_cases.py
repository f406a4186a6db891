"""Hostile inputs and faults for every `bpsom` command, and a runner that sorts their outcomes.

Each case builds what it needs in a fresh directory, runs `bpsom ...` there
in a fresh interpreter and is sorted into one of:

  clean      exit 2 with one `bpsom: error: ...` line (or exit 0 where success is right)
  traceback  a Python traceback reached the user
  hang       still running after the time limit
  wrong      exit 0 (or another code) where the input must be refused
  lost       finished results missing or half-replaced afterwards
  other      any other exit (a crash, a signal)

`python3 tests/hostile_cases.py [--only PREFIX] [--jobs N]` runs them all and
prints the counts; tests/test_faults.py runs a fast selection in process.
"""

from __future__ import annotations

import json
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Union

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "bpsom_core" / "examples" / "grapho_small"
FAST = ["--epochs", "2", "--no-report", "-q"]

Argv = Sequence[Union[str, bytes]]


@dataclass
class Case:
    name: str
    argv: Argv                                  # after `bpsom`; or a shell line when shell=True
    expect: str = "error"                       # "error" or "ok"
    setup: Optional[Callable[[Path], None]] = None
    check: Optional[Callable[[Path, "Outcome"], Optional[str]]] = None   # returns "lost"/"wrong" or None
    shell: bool = False
    timeout: float = 150.0
    slow: bool = False                          # glue cases: imports torch



@dataclass
class Outcome:
    code: int
    stdout: str
    stderr: str
    seconds: float
    kind: str = ""


# ------------------------------------------------------------------ building blocks

def write(path: Path, data: Union[str, bytes]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data.encode("utf-8") if isinstance(data, str) else data)


def fifo(name: str) -> Callable[[Path], None]:
    return lambda d: os.mkfifo(d / name)


def tiny_prm(**override: str) -> str:
    """A 2-epoch version of the shipped example (a few hundred ms)."""
    keys = {"LRN": "lrn.txt", "VAL": "val.txt", "TST": "tst.txt", "LOG": "ex.log", "OLD_ENV": "_",
            "BEST_ENV": "ex.bst", "N_EPOCHS": "2", "BP-architecture": "378 30 30 0 0 0",
            "SOM-architecture": "0 8 0 0 0 0", "SEED": "1969", "BP_LEARN_RATE": "0.2"}
    keys.update(override)
    out = []
    for line in (EXAMPLE / "example.prm").read_text(encoding="latin-1").splitlines():
        k = line.split("=")[0].strip()
        out.append(f"{k} = {keys[k]}" if k in keys else line)
    return "\n".join(out) + "\n"


def prm_dir(**override: str) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for name in ("lrn.txt", "val.txt", "tst.txt"):
            lines = (EXAMPLE / name).read_bytes().splitlines(keepends=True)
            write(d / name, b"".join(lines[:300 if name == "lrn.txt" else 60]))
        write(d / "ex.prm", tiny_prm(**override))
    return setup


def chain(*fns: Callable[[Path], None]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        for fn in fns:
            fn(d)
    return setup


def readonly_dir(name: str) -> Callable[[Path], None]:
    """A directory nobody may write in; as root (where modes do not bind) a link to /sys/kernel."""
    def setup(d: Path) -> None:
        if os.geteuid() == 0:
            os.symlink("/sys/kernel", d / name)
        else:
            (d / name).mkdir(exist_ok=True)
            os.chmod(d / name, 0o555)
    return setup


def csv_file(name: str, text: Union[str, bytes]) -> Callable[[Path], None]:
    return lambda d: write(d / name, text)


def npz_file(name: str, **arrays) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        import numpy as np
        np.savez(d / name, **{k: np.asarray(v) for k, v in arrays.items()})
    return setup


def wine_rows(n: int) -> str:
    text = (ROOT / "bpsom_core" / "data" / "wine.csv").read_text().splitlines()
    return "\n".join(text[:1] + text[1:1 + n]) + "\n"


def train_run(d: Path) -> None:
    """A finished `bpsom train` run directory in d/run (two epochs, with plots)."""
    subprocess.run(_cmd(["train", "--epochs", "2", "-q", "-o", "run"]), cwd=d, env=_env(),
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, timeout=300)


_RUN_TEMPLATE: dict = {}


def made_run(d: Path) -> None:
    """Copy of one shared finished run (made once per harness process)."""
    if "dir" not in _RUN_TEMPLATE:
        base = Path(tempfile.mkdtemp(prefix="bpsom-hostile-run-"))
        train_run(base)
        _RUN_TEMPLATE["dir"] = base / "run"
    shutil.copytree(_RUN_TEMPLATE["dir"], d / "run")


def edit_json(name: str, fn: Callable[[object], object]) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / "run" / name
        p.write_text(json.dumps(fn(json.loads(p.read_text()))))
    return setup


def raw_file(name: str, data: Union[str, bytes]) -> Callable[[Path], None]:
    return lambda d: write(d / "run" / name, data)


def truncate(name: str, keep: float) -> Callable[[Path], None]:
    def setup(d: Path) -> None:
        p = d / "run" / name
        data = p.read_bytes()
        p.write_bytes(data[: int(len(data) * keep)])
    return setup


def glue_dirs(d: Path) -> None:
    """A tiny GLUE sst2 directory and a tiny BERT model directory."""
    sys.path.insert(0, str(ROOT / "tests"))
    from test_bert_support import make_glue_dir, make_tiny_model_dir
    make_glue_dir(d / "data")
    make_tiny_model_dir(d)
    write(d / "tiny.yaml", "model: {max_length: 16}\nbpsom: {hidden_size: 8, som_grid_size: 4}\n"
          "training: {epochs: 1, batch_size: 16}\n")


GLUE = ["glue", "--task", "sst2", "--mode", "bpsom", "--config", "tiny.yaml", "--model", "tiny-bert",
        "--data-dir", "data/sst2", "--max-train-examples", "32", "--max-eval-examples", "16",
        "--no-progress"]


def glue_with(*extra: str, drop: Sequence[str] = ()) -> List[str]:
    argv = list(GLUE)
    for opt in drop:
        i = argv.index(opt)
        del argv[i:i + 2]
    return argv + list(extra)


def bin_only_model(d: Path) -> None:
    glue_dirs(d)
    import torch
    from safetensors.torch import load_file
    t = load_file(str(d / "tiny-bert" / "model.safetensors"))
    torch.save(t, d / "tiny-bert" / "pytorch_model.bin")
    (d / "tiny-bert" / "model.safetensors").unlink()


def exists_check(*names: str) -> Callable[[Path, Outcome], Optional[str]]:
    def check(d: Path, out: Outcome) -> Optional[str]:
        return None if all((d / n).exists() for n in names) else "lost"
    return check


def mode_check(path: str, want: int) -> Callable[[Path, Outcome], Optional[str]]:
    def check(d: Path, out: Outcome) -> Optional[str]:
        p = d / path
        return None if p.exists() and stat.S_IMODE(p.stat().st_mode) == want else "wrong"
    return check


def two_runs_same_dir(d: Path) -> None:
    """Start a second `bpsom train -o same` while the harness runs the first."""
    proc = subprocess.Popen(_cmd(["train", "--epochs", "3", "-q", "--no-report", "-o", "same"]), cwd=d,
                            env=_env(), stdout=subprocess.DEVNULL, stderr=open(d / "other.err", "w"))
    (d / "other.pid").write_text(str(proc.pid))


def two_runs_check(d: Path, out: Outcome) -> Optional[str]:
    pid = int((d / "other.pid").read_text())
    deadline = time.time() + 120
    while time.time() < deadline:
        try:
            os.kill(pid, 0)
            time.sleep(0.2)
            with open(f"/proc/{pid}/stat") as fh:
                if fh.read().split()[2] == "Z":
                    os.waitpid(pid, 0)
                    break
        except (OSError, ChildProcessError):
            break
    other = (d / "other.err").read_text()
    ok = [out.code == 0, "bpsom: error" not in other]
    if sum(ok) != 1:   # exactly one must win
        return "wrong"
    return None if (d / "same" / "metrics.json").exists() else "lost"


# ------------------------------------------------------------------ the cases

def cases() -> List[Case]:
    C: List[Case] = []
    add = C.append
    # ---- run
    add(Case("run/missing-prm", ["run", "nope.prm"]))
    add(Case("run/dir-as-prm", ["run", "sub"], setup=lambda d: (d / "sub").mkdir()))
    add(Case("run/fifo-prm", ["run", "p.prm"], setup=fifo("p.prm"), timeout=20))
    add(Case("run/dev-zero-prm", ["run", "/dev/zero"], timeout=20))
    add(Case("run/dev-null-prm", ["run", "/dev/null"]))
    add(Case("run/empty-prm", ["run", "e.prm"], setup=csv_file("e.prm", "")))
    add(Case("run/binary-prm", ["run", "b.prm"], setup=csv_file("b.prm", bytes(range(256)) * 4)))
    add(Case("run/nul-prm", ["run", "ex.prm"], setup=chain(prm_dir(), lambda d: write(
        d / "ex.prm", tiny_prm().replace("SEED = 1969", "SEED = 19\x0069")))))
    add(Case("run/truncated-prm", ["run", "ex.prm"], setup=chain(prm_dir(), lambda d: write(
        d / "ex.prm", tiny_prm()[:300]))))
    add(Case("run/ok", ["run", "ex.prm", "--quiet"], expect="ok", setup=prm_dir(),
             check=exists_check("ex.bst", "ex.log")))
    add(Case("run/latin1-name", [b"run", b"\xe9x.prm", b"--quiet"], expect="ok",
             setup=chain(prm_dir(), lambda d: os.rename(d / "ex.prm", os.fsencode(d) + b"/\xe9x.prm"))))
    add(Case("run/seed-abc", ["run", "ex.prm", "abc", "--quiet"], setup=prm_dir()))
    add(Case("run/seed-99999", ["run", "ex.prm", "99999", "--quiet"], setup=prm_dir()))
    add(Case("run/seed-neg", ["run", "ex.prm", "-5", "--quiet"], setup=prm_dir()))
    add(Case("run/seed-float", ["run", "ex.prm", "12.5", "--quiet"], setup=prm_dir()))
    add(Case("run/seed-ok", ["run", "ex.prm", "7", "--quiet"], expect="ok", setup=prm_dir()))
    add(Case("run/seed-compat-c-atoi", ["run", "ex.prm", "99999", "--compat", "c", "--quiet"], expect="ok",
             setup=prm_dir()))
    add(Case("run/dir-without-example", ["run", "ex.prm", "--dir", "x", "--quiet"], setup=prm_dir()))
    add(Case("run/lrn-fifo", ["run", "ex.prm", "--quiet"], setup=chain(prm_dir(LRN="f.txt"), fifo("f.txt")),
             timeout=20))
    add(Case("run/lrn-dev-zero", ["run", "ex.prm", "--quiet"], setup=prm_dir(LRN="/dev/zero"), timeout=20))
    add(Case("run/lrn-dev-urandom", ["run", "ex.prm", "--quiet"], setup=prm_dir(LRN="/dev/urandom"),
             timeout=20))
    add(Case("run/lrn-missing", ["run", "ex.prm", "--quiet"], setup=prm_dir(LRN="none.txt")))
    add(Case("run/lrn-dir", ["run", "ex.prm", "--quiet"], setup=chain(prm_dir(LRN="sub"),
                                                                      lambda d: (d / "sub").mkdir())))
    add(Case("run/val-binary", ["run", "ex.prm", "--quiet"],
             setup=chain(prm_dir(), csv_file("val.txt", bytes(range(256)) * 40))))
    add(Case("run/log-missing-dir", ["run", "ex.prm", "--quiet"], setup=prm_dir(LOG="no/such/dir.log")))
    add(Case("run/log-readonly-dir", ["run", "ex.prm", "--quiet"],
             setup=chain(prm_dir(LOG="ro/x.log"), readonly_dir("ro"))))
    add(Case("run/log-is-dir", ["run", "ex.prm", "--quiet"], setup=chain(prm_dir(LOG="sub"),
                                                                         lambda d: (d / "sub").mkdir())))
    add(Case("run/log-elsewhere-ok", ["run", "ex.prm", "--quiet"], expect="ok",
             setup=chain(prm_dir(LOG="logs/x.log"), lambda d: (d / "logs").mkdir()),
             check=exists_check("logs/x.log")))
    add(Case("run/bst-missing-dir", ["run", "ex.prm", "--quiet"], setup=prm_dir(BEST_ENV="no/such/x.bst")))
    add(Case("run/bst-readonly-dir", ["run", "ex.prm", "--quiet"],
             setup=chain(prm_dir(BEST_ENV="ro/x.bst"), readonly_dir("ro"))))
    add(Case("run/bst-is-dir", ["run", "ex.prm", "--quiet"], setup=chain(prm_dir(BEST_ENV="sub"),
                                                                         lambda d: (d / "sub").mkdir())))
    add(Case("run/old-env-missing", ["run", "ex.prm", "--quiet"], setup=prm_dir(OLD_ENV="old.bst")))
    add(Case("run/old-env-fifo", ["run", "ex.prm", "--quiet"],
             setup=chain(prm_dir(OLD_ENV="old.bst"), fifo("old.bst")), timeout=20))
    add(Case("run/old-env-garbage", ["run", "ex.prm", "--quiet"],
             setup=chain(prm_dir(OLD_ENV="old.bst"), csv_file("old.bst", "garbage\n1 2 3\n"))))
    add(Case("run/old-env-dev-zero", ["run", "ex.prm", "--quiet"], setup=prm_dir(OLD_ENV="/dev/zero"),
             timeout=20))
    add(Case("run/huge-layer", ["run", "ex.prm", "--quiet"],
             setup=prm_dir(**{"BP-architecture": "378 2000000000 30 0 0 0"}), timeout=60))
    add(Case("run/huge-layer-2", ["run", "ex.prm", "--quiet"],
             setup=prm_dir(**{"BP-architecture": "378 200000 200000 0 0 0"}), timeout=60))
    add(Case("run/huge-som", ["run", "ex.prm", "--quiet"],
             setup=prm_dir(**{"SOM-architecture": "0 100000 0 0 0 0"}), timeout=60))
    add(Case("run/negative-layer", ["run", "ex.prm", "--quiet"],
             setup=prm_dir(**{"BP-architecture": "378 -5 30 0 0 0"})))
    add(Case("run/nan-lr", ["run", "ex.prm", "--quiet", "--compat", "fixed"], setup=prm_dir(BP_LEARN_RATE="nan")))
    add(Case("run/history-missing-dir", ["run", "ex.prm", "--quiet", "--history", "no/dir/h.json"],
             setup=prm_dir()))
    add(Case("run/history-readonly", ["run", "ex.prm", "--quiet", "--history", "ro/h.json"],
             setup=chain(prm_dir(), readonly_dir("ro"))))
    add(Case("run/history-is-dir", ["run", "ex.prm", "--quiet", "--history", "sub"],
             setup=chain(prm_dir(), lambda d: (d / "sub").mkdir())))
    add(Case("run/history-fifo", ["run", "ex.prm", "--quiet", "--history", "h.fifo"],   # (never a real
             setup=chain(prm_dir(), fifo("h.fifo"))))                                  # device: root could replace it)
    add(Case("run/history-ok", ["run", "ex.prm", "--quiet", "--history", "h.json"], expect="ok",
             setup=prm_dir(), check=exists_check("h.json")))
    add(Case("run/stdout-dev-full", "$BPSOM run ex.prm --quiet > /dev/full", setup=prm_dir(), shell=True))
    add(Case("run/stdout-closed-pipe", "$BPSOM run ex.prm --quiet | head -c 20 >/dev/null; "
             "exit ${PIPESTATUS[0]}", expect="pipe", setup=prm_dir(), shell=True))
    add(Case("run/efbig-log", "ulimit -f 8; $BPSOM run ex.prm --quiet", setup=prm_dir(), shell=True))
    add(Case("run/example-readonly-cwd", ["run", "--example", "--dir", "ro/ex", "--quiet"],
             setup=readonly_dir("ro")))
    add(Case("run/example-dir-is-file", ["run", "--example", "--dir", "f", "--quiet"],
             setup=csv_file("f", "x")))
    add(Case("run/format-bogus", ["run", "ex.prm", "--format", "xml"], setup=prm_dir()))
    add(Case("run/no-args", ["run"]))
    add(Case("run/umask-files", "umask 022; $BPSOM run ex.prm --quiet --history h.json >/dev/null",
             expect="ok", setup=prm_dir(), shell=True, check=mode_check("ex.bst", 0o644)))
    add(Case("run/umask-history", "umask 022; $BPSOM run ex.prm --quiet --history h.json >/dev/null",
             expect="ok", setup=prm_dir(), shell=True, check=mode_check("h.json", 0o644)))
    add(Case("run/no-home-readonly-cache",
             "HOME=/nonexistent NUMBA_CACHE_DIR= XDG_CACHE_HOME=/nonexistent $BPSOM run ex.prm --quiet >/dev/null",
             expect="ok", setup=prm_dir(), shell=True))
    # ---- train: data files
    add(Case("train/missing", ["train", "nope.csv", *FAST]))
    add(Case("train/dir", ["train", "sub", *FAST], setup=lambda d: (d / "sub").mkdir()))
    add(Case("train/fifo", ["train", "f.csv", *FAST], setup=fifo("f.csv"), timeout=20))
    add(Case("train/dev-zero", ["train", "/dev/zero", *FAST], timeout=20))
    add(Case("train/dev-null", ["train", "/dev/null", *FAST]))
    add(Case("train/dev-urandom-npz", ["train", "/dev/urandom", *FAST], timeout=20))
    add(Case("train/empty", ["train", "e.csv", *FAST], setup=csv_file("e.csv", "")))
    add(Case("train/header-only", ["train", "h.csv", *FAST], setup=csv_file("h.csv", "a,b,c\n")))
    add(Case("train/binary", ["train", "b.csv", *FAST], setup=csv_file("b.csv", bytes(range(256)) * 8)))
    add(Case("train/latin1", ["train", "l.csv", *FAST], setup=csv_file("l.csv", "a,b\n1,\xe9\n2,x\n".encode("latin-1"))))
    add(Case("train/utf16", ["train", "u.csv", *FAST], setup=csv_file("u.csv", wine_rows(40).encode("utf-16"))))
    add(Case("train/ragged", ["train", "r.csv", *FAST], setup=csv_file("r.csv", "a,b,c\n1,2,x\n1,2\n3,4,y\n")))
    add(Case("train/nan-cell", ["train", "n.csv", *FAST], setup=csv_file("n.csv", "a,b\nnan,x\n1,y\n2,x\n3,y\n")))
    add(Case("train/inf-cell", ["train", "n.csv", *FAST], setup=csv_file("n.csv", "a,b\ninf,x\n1,y\n2,x\n3,y\n")))
    add(Case("train/1e400-cell", ["train", "n.csv", *FAST],
             setup=csv_file("n.csv", "a,b\n1e400,x\n1,y\n2,x\n3,y\n")))
    add(Case("train/nan-label", ["train", "n.csv", *FAST],
             setup=csv_file("n.csv", "a,b\n1,nan\n1,y\n2,x\n3,y\n4,x\n5,y\n")))
    add(Case("train/continuous-target", ["train", "w.csv", "--target", "alcohol", *FAST],
             setup=csv_file("w.csv", wine_rows(178))))
    add(Case("train/continuous-target-msg", ["train", "w.csv", "--target", "alcohol", *FAST],
             setup=csv_file("w.csv", wine_rows(178)),
             check=lambda d, o: None if "continuous" in o.stderr else "wrong"))
    add(Case("train/single-class", ["train", "s.csv", *FAST], setup=csv_file("s.csv", "a,b\n1,x\n2,x\n")))
    add(Case("train/target-missing", ["train", "w.csv", "--target", "nope", *FAST],
             setup=csv_file("w.csv", wine_rows(60))))
    add(Case("train/categorical-unknown", ["train", "--categorical", "zzz", *FAST]))
    add(Case("train/numeric-on-text", ["train", "t.csv", "--numeric", "a", *FAST],
             setup=csv_file("t.csv", "a,b\nx,1\ny,2\nz,1\nw,2\n")))
    add(Case("train/tiny-data", ["train", "t.csv", *FAST],
             setup=csv_file("t.csv", "a,b\n1,x\n2,y\n3,x\n4,y\n"), expect="any",
             check=lambda d, o: None if o.code == 2 or "warning" in o.stderr.lower() else "wrong"))
    add(Case("train/three-rows", ["train", "t.csv", *FAST], setup=csv_file("t.csv", "a,b\n1,x\n2,y\n3,x\n"),
             expect="any", check=lambda d, o: None if o.code == 2 or "warning" in o.stderr.lower() else "wrong"))
    add(Case("train/cv-too-big", ["train", "--cv", "1000", *FAST]))
    add(Case("train/cv-1", ["train", "--cv", "1", *FAST]))
    add(Case("train/cv-0", ["train", "--cv", "0", *FAST]))
    add(Case("train/cv-neg", ["train", "--cv", "-3", *FAST]))
    add(Case("train/arff-garbage", ["train", "g.arff", *FAST], setup=csv_file("g.arff", "@relation\n@data\n1,2\n")))
    add(Case("train/arff-empty", ["train", "g.arff", *FAST], setup=csv_file("g.arff", "")))
    add(Case("train/arff-binary", ["train", "g.arff", *FAST], setup=csv_file("g.arff", bytes(range(256)) * 4)))
    add(Case("train/arff-nan", ["train", "g.arff", *FAST], setup=csv_file(
        "g.arff", "@relation r\n@attribute a numeric\n@attribute c {x,y}\n@data\nnan,x\n1,y\n2,x\n3,y\n")))
    add(Case("train/arff-fifo", ["train", "g.arff", *FAST], setup=fifo("g.arff"), timeout=20))
    add(Case("train/npz-fifo", ["train", "g.npz", *FAST], setup=fifo("g.npz"), timeout=20))
    add(Case("train/npz-not-zip", ["train", "g.npz", *FAST], setup=csv_file("g.npz", "hello")))
    add(Case("train/npz-truncated", ["train", "g.npz", *FAST], setup=chain(
        npz_file("g.npz", X=[[1.0, 2.0]] * 20, y=[0, 1] * 10),
        lambda d: (d / "g.npz").write_bytes((d / "g.npz").read_bytes()[:200]))))
    add(Case("train/npz-complex", ["train", "c.npz", *FAST], setup=npz_file(
        "c.npz", X=[[1 + 2j, 2.0]] * 20, y=[0, 1] * 10)))
    add(Case("train/npz-nan-X", ["train", "c.npz", *FAST], setup=npz_file(
        "c.npz", X=[[float("nan"), 2.0]] * 20, y=[0, 1] * 10)))
    add(Case("train/npz-nan-y", ["train", "c.npz", *FAST], setup=npz_file(
        "c.npz", X=[[1.0, 2.0], [2.0, 1.0]] * 10, y=[0.0, float("nan")] * 10)))
    add(Case("train/npz-float-y", ["train", "c.npz", *FAST], setup=npz_file(
        "c.npz", X=[[float(i), 2.0] for i in range(40)], y=[i * 0.37 for i in range(40)])))
    add(Case("train/npz-object", ["train", "o.npz", *FAST], setup=lambda d: __import__("numpy").savez(
        d / "o.npz", X=__import__("numpy").array([[1, "a"]] * 4, dtype=object), y=[0, 1, 0, 1])))
    add(Case("train/npz-3d", ["train", "c.npz", *FAST], setup=npz_file("c.npz", X=[[[1.0]]] * 4, y=[0, 1, 0, 1])))
    add(Case("train/npz-no-y", ["train", "c.npz", *FAST], setup=npz_file("c.npz", X=[[1.0]] * 4)))
    add(Case("train/npz-bool-X", ["train", "c.npz", *FAST], expect="ok",
             setup=npz_file("c.npz", X=[[True, False], [False, True]] * 20, y=[0, 1] * 20)))
    # ---- train: options
    for opt, val in [("--hidden", "0"), ("--hidden", "-1"), ("--hidden", "abc"), ("--hidden", ""),
                     ("--hidden", "100000000"), ("--hidden", "50000,50000"), ("--som", "100000"),
                     ("--som", "-1"), ("--som", "7,7,7"), ("--lr", "nan"), ("--lr", "inf"), ("--lr", "-1"),
                     ("--lr", "1e308"), ("--momentum", "nan"), ("--momentum", "-0.5"), ("--weight-decay", "nan"),
                     ("--som-error-weight", "nan"), ("--som-error-weight", "2"), ("--reliability-threshold", "500"),
                     ("--prune-threshold", "nan"), ("--som-context", "5,1"), ("--som-context", "a,b"),
                     ("--som-lr", "nan,0.2"), ("--som-lr", "0.1"), ("--epochs", "0"), ("--epochs", "-1"),
                     ("--patience", "-1"), ("--batch-size", "0"), ("--test-fraction", "nan"),
                     ("--val-fraction", "nan"), ("--val-fraction", "1.5"), ("--test-fraction", "-0.1"),
                     ("--seed", "-1"), ("--seed", "99999999999999999999"), ("--solver", "sgd"),
                     ("--loss", "hinge")]:
        fast = ["--no-report", "-q"] if opt == "--epochs" else FAST
        add(Case(f"train/opt{opt}={val}", ["train", opt, val, *fast], timeout=60))
    add(Case("train/dev-full-stdout", "$BPSOM train --epochs 2 --no-report -q -o r > /dev/full", shell=True))
    add(Case("train/closed-pipe", "$BPSOM train --epochs 2 --no-report -o r | head -c 5 >/dev/null; "
             "exit ${PIPESTATUS[0]}", expect="pipe", shell=True))
    add(Case("train/json-closed-pipe", "$BPSOM train --epochs 2 --no-report -q --json -o r | head -c 5 "
             ">/dev/null; exit ${PIPESTATUS[0]}", expect="pipe", shell=True))
    add(Case("train/efbig", "ulimit -f 4; $BPSOM train --epochs 2 -q -o r", shell=True))
    add(Case("train/out-is-file", ["train", *FAST, "-o", "f"], setup=csv_file("f", "x")))
    add(Case("train/out-readonly-parent", ["train", *FAST, "-o", "ro/run"], setup=readonly_dir("ro")))
    add(Case("train/out-parent-is-file", ["train", *FAST, "-o", "f/run"], setup=csv_file("f", "x")))
    add(Case("train/out-dev-null", ["train", *FAST, "-o", "/dev/null/x"]))
    add(Case("train/out-exists", ["train", *FAST, "-o", "r"], setup=csv_file("r/keep.txt", "keep"),
             check=exists_check("r/keep.txt")))
    add(Case("train/force-keeps-one", ["train", *FAST, "-o", "r", "--force"], expect="ok",
             setup=csv_file("r/keep.txt", "keep"), check=lambda d, o: None if (d / "r" / "metrics.json").exists()
             and not (d / "r" / "keep.txt").exists() and not any(p.name.startswith(".r")
                                                                  for p in d.iterdir()) else "lost"))
    add(Case("train/stale-tmp-cleaned", ["train", *FAST, "-o", "r"], expect="ok",
             setup=lambda d: (d / ".r.abc123.tmp").mkdir() or write(d / ".r.abc123.tmp" / "model.json", "{"),
             check=lambda d, o: None if not (d / ".r.abc123.tmp").exists() else "wrong"))
    add(Case("train/two-runs-same-dir", ["train", "--epochs", "3", "-q", "--no-report", "-o", "same"],
             expect="any", setup=two_runs_same_dir, check=two_runs_check, timeout=120))
    add(Case("train/umask-files", "umask 022; $BPSOM train --epochs 2 -q --no-report -o r >/dev/null",
             expect="ok", shell=True, check=mode_check("r/metrics.json", 0o644)))
    add(Case("train/umask-dir", "umask 022; $BPSOM train --epochs 2 -q --no-report -o r >/dev/null",
             expect="ok", shell=True, check=mode_check("r", 0o755)))
    add(Case("train/one-epoch-ok", ["train", "--epochs", "1", "-q", "-o", "r"], expect="ok",
             check=exists_check("r/plots/history.png")))
    add(Case("train/cv-refit-labelled", ["train", "--cv", "3", "--epochs", "2", "--no-report", "-o", "r"],
             expect="ok", check=lambda d, o: None if "refit" in o.stdout else "wrong"))
    add(Case("train/nan-loss", ["train", "--lr", "1e30", "--epochs", "5", "-q", "-o", "r", "--no-report"],
             expect="any", check=lambda d, o: None if o.code == 2 or "became nan" in o.stderr or
             (o.code == 0 and (d / "r" / "model.safetensors").exists()) else "wrong"))
    add(Case("train/no-home-cache",
             "HOME=/nonexistent XDG_CACHE_HOME=/nonexistent $BPSOM train --epochs 2 -q --no-report -o r "
             ">/dev/null", expect="ok", shell=True))
    add(Case("train/np-str-message", ["train", "n.csv", *FAST],
             setup=csv_file("n.csv", "a,b\n1,x\n2,y\n3,x\n4,y\n5,x\n6,y\n7,x\n8,y\n9,z\n"),
             expect="any", check=lambda d, o: "wrong" if "np.str_" in o.stderr else None))
    # ---- report
    add(Case("report/missing", ["report", "nope"]))
    add(Case("report/file", ["report", "f"], setup=csv_file("f", "x")))
    add(Case("report/empty-dir", ["report", "e"], setup=lambda d: (d / "e").mkdir()))
    add(Case("report/ok", ["report", "run"], expect="ok", setup=made_run))
    add(Case("report/model-json-garbage", ["report", "run"], setup=chain(made_run, raw_file("model.json", "{x"))))
    add(Case("report/model-json-truncated", ["report", "run"], setup=chain(made_run, truncate("model.json", 0.5))))
    add(Case("report/model-json-list", ["report", "run"], setup=chain(made_run, raw_file("model.json", "[1,2]"))))
    add(Case("report/model-json-binary", ["report", "run"], setup=chain(made_run, raw_file("model.json", b"\xff\xfe\x00"))))
    add(Case("report/model-json-no-params", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {k: v for k, v in m.items() if k != "params"}))))
    add(Case("report/model-json-bad-som-dims", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {**m, "som_dims": [3]}))))
    add(Case("report/model-json-som-dims-str", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {**m, "som_dims": "x"}))))
    add(Case("report/model-json-bad-params", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {**m, "params": {**m["params"], "hidden_layer_sizes": "x"}}))))
    add(Case("report/model-json-unknown-param", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {**m, "params": {**m["params"], "bogus": 1}}))))
    add(Case("report/model-json-classes-empty", ["report", "run"], setup=chain(
        made_run, edit_json("model.json", lambda m: {**m, "classes": []}))))
    add(Case("report/model-json-fifo", ["report", "run"], setup=chain(
        made_run, lambda d: (d / "run" / "model.json").unlink(), lambda d: os.mkfifo(d / "run" / "model.json")),
        timeout=20))
    add(Case("report/safetensors-garbage", ["report", "run"], setup=chain(made_run, raw_file("model.safetensors", "xx"))))
    add(Case("report/safetensors-truncated", ["report", "run"],
             setup=chain(made_run, truncate("model.safetensors", 0.6))))
    add(Case("report/safetensors-empty", ["report", "run"], setup=chain(made_run, raw_file("model.safetensors", b""))))
    add(Case("report/safetensors-shape", ["report", "run"], setup=chain(made_run, _swap_prototypes)))
    add(Case("report/safetensors-missing-key", ["report", "run"], setup=chain(made_run, _drop_tensor)))
    add(Case("report/history-garbage", ["report", "run"], setup=chain(made_run, raw_file("history.json", "nope"))))
    add(Case("report/history-list", ["report", "run"], setup=chain(made_run, raw_file("history.json", "[]"))))
    add(Case("report/history-no-key", ["report", "run"], setup=chain(made_run, raw_file("history.json", "{}"))))
    add(Case("report/history-bad-record", ["report", "run"],
             setup=chain(made_run, raw_file("history.json", '{"history": [{"x": 1}]}'))))
    add(Case("report/history-record-str", ["report", "run"],
             setup=chain(made_run, raw_file("history.json", '{"history": ["a"]}'))))
    add(Case("report/history-nan", ["report", "run"], expect="any", setup=chain(made_run, edit_json(
        "history.json", lambda h: {"history": [{**r, "train_ce": float("nan")} for r in h["history"]]}))))
    add(Case("report/metrics-garbage", ["report", "run"], setup=chain(made_run, raw_file("metrics.json", "{"))))
    add(Case("report/metrics-list", ["report", "run"], setup=chain(made_run, raw_file("metrics.json", "[1]"))))
    add(Case("report/metrics-bad-confusion", ["report", "run"], setup=chain(made_run, edit_json(
        "metrics.json", lambda m: {**m, "confusion": "x"}))))
    add(Case("report/metrics-confusion-shape", ["report", "run"], setup=chain(made_run, edit_json(
        "metrics.json", lambda m: {**m, "confusion": [[1, 2], [3]]}))))
    add(Case("report/hidden-std-bad", ["report", "run"], setup=chain(made_run, edit_json(
        "model.json", lambda m: {**m, "hidden_std": "x"}))))
    add(Case("report/plots-is-file", ["report", "run"], setup=chain(
        made_run, lambda d: shutil.rmtree(d / "run" / "plots"), lambda d: write(d / "run" / "plots", "x"))))
    add(Case("report/plots-readonly", ["report", "run"], setup=chain(
        made_run, lambda d: shutil.rmtree(d / "run" / "plots"), readonly_dir("run/plots"))))
    add(Case("report/closed-pipe", "$BPSOM report run | head -c 3 >/dev/null; exit ${PIPESTATUS[0]}",
             expect="pipe", setup=made_run, shell=True))
    # ---- parity
    add(Case("parity/missing-cases", ["parity", "--cases", "nope"]))
    add(Case("parity/file-cases", ["parity", "--cases", "f"], setup=csv_file("f", "x")))
    add(Case("parity/empty-dir", ["parity", "--cases", "e"], setup=lambda d: (d / "e").mkdir()))
    add(Case("parity/no-expected", ["parity", "--cases", "c"], setup=_case_without_expected))
    add(Case("parity/stale-log", ["parity", "--cases", "c"], expect="parity", setup=_case_with_stale_log,
             check=lambda d, o: None if "stale" in o.stderr.lower() or "LOG" in o.stderr else "wrong"))
    add(Case("parity/case-prm-fifo", ["parity", "--cases", "c"], expect="parity", setup=_case_prm_fifo,
             timeout=30))
    add(Case("parity/c-binary-missing", ["parity", "--c-binary", "nope", "--examples", "1"]))
    add(Case("parity/c-binary-not-exec", ["parity", "--c-binary", "f", "--examples", "1"], setup=csv_file("f", "x")))
    add(Case("parity/examples-0", ["parity", "--c-binary", "f", "--examples", "0"]))
    add(Case("parity/timeout-nan", ["parity", "--cases", "c", "--timeout", "nan"], setup=_case_without_expected))
    add(Case("parity/record-no-binary", ["parity", "--cases", "e", "--record"], setup=lambda d: (d / "e").mkdir()))
    add(Case("parity/keep-readonly", ["parity", "--c-binary", "/bin/true", "--examples", "1", "--keep", "ro/k"],
             setup=readonly_dir("ro")))
    # ---- glue (imports torch: slow)
    for name, argv, setup in [
        ("glue/model-missing-dir", glue_with("--model", "no/such/dir", drop=["--model"]), glue_dirs),
        ("glue/model-missing-dir-msg", glue_with("--model", "./nope", drop=["--model"]), glue_dirs),
        ("glue/model-is-file", glue_with("--model", "tiny.yaml", drop=["--model"]), glue_dirs),
        ("glue/model-empty-dir", glue_with("--model", "e", drop=["--model"]),
         chain(glue_dirs, lambda d: (d / "e").mkdir())),
        ("glue/model-pickle-only", GLUE, bin_only_model),
        ("glue/model-config-garbage", GLUE, chain(glue_dirs, lambda d: write(d / "tiny-bert" / "config.json", "{"))),
        ("glue/model-safetensors-garbage", GLUE,
         chain(glue_dirs, lambda d: write(d / "tiny-bert" / "model.safetensors", "garbage"))),
        ("glue/tokenizer-garbage", GLUE, chain(glue_dirs, lambda d: write(d / "tiny-bert" / "tokenizer.json", "{"))),
        ("glue/output-readonly", glue_with("--output-dir", "ro/out"), chain(glue_dirs, readonly_dir("ro"))),
        ("glue/output-is-file", glue_with("--output-dir", "f"), chain(glue_dirs, csv_file("f", "x"))),
        ("glue/data-missing", glue_with("--data-dir", "nope", drop=["--data-dir"]), glue_dirs),
        ("glue/data-fifo", GLUE, chain(glue_dirs, lambda d: (d / "data/sst2/train.tsv").unlink(),
                                       lambda d: os.mkfifo(d / "data/sst2/train.tsv"))),
        ("glue/data-binary", GLUE, chain(glue_dirs, lambda d: write(d / "data/sst2/train.tsv", bytes(range(256)) * 8))),
        ("glue/config-garbage", GLUE, chain(glue_dirs, lambda d: write(d / "tiny.yaml", "a: [\n"))),
        ("glue/config-list", GLUE, chain(glue_dirs, lambda d: write(d / "tiny.yaml", "- 1\n"))),
        ("glue/config-fifo", GLUE, chain(glue_dirs, lambda d: (d / "tiny.yaml").unlink(), fifo("tiny.yaml"))),
        ("glue/config-binary", GLUE, chain(glue_dirs, lambda d: write(d / "tiny.yaml", b"\xff\xfe\x00a"))),
        ("glue/hidden-huge", GLUE, chain(glue_dirs, lambda d: write(
            d / "tiny.yaml", "bpsom: {hidden_size: 2000000000, som_grid_size: 4}\ntraining: {epochs: 1}\n"))),
        ("glue/som-huge", GLUE, chain(glue_dirs, lambda d: write(
            d / "tiny.yaml", "bpsom: {hidden_size: 8, som_grid_size: 100000}\ntraining: {epochs: 1}\n"))),
        ("glue/lr-nan", GLUE, chain(glue_dirs, lambda d: write(
            d / "tiny.yaml", "bpsom: {hidden_size: 8, som_grid_size: 4}\ntraining: {epochs: 1, learning_rate: .nan}\n"))),
        ("glue/task-bogus", glue_with("--task", "nope", drop=["--task"]), glue_dirs),
        ("glue/epochs-0", glue_with("--epochs", "0"), glue_dirs),
    ]:
        check = (lambda d, o: None if "no such directory" in o.stderr else "wrong") if name.endswith("-msg") else None
        add(Case(name, argv, setup=setup, slow=True, timeout=180, check=check))
    add(Case("glue/ok", GLUE, expect="ok", setup=glue_dirs, slow=True, timeout=300))
    return C


def _swap_prototypes(d: Path) -> None:
    from safetensors.numpy import load_file, save_file
    p = d / "run" / "model.safetensors"
    t = load_file(str(p))
    key = next(k for k in t if k.endswith("prototypes"))
    t[key] = t[key][:2]
    save_file(t, str(p))


def _drop_tensor(d: Path) -> None:
    from safetensors.numpy import load_file, save_file
    p = d / "run" / "model.safetensors"
    t = load_file(str(p))
    t.pop("layers.1.weight")
    save_file(t, str(p))


def _fixture_case(d: Path) -> Path:
    src = ROOT / "parity" / "fixtures" / "cases"
    name = sorted(p.name for p in src.iterdir() if p.name.startswith("wd_1h"))[0]
    shutil.copytree(src / name, d / "c")
    return d / "c"


def _case_without_expected(d: Path) -> None:
    c = _fixture_case(d)
    for p in c.glob("expected.*"):
        p.unlink()


def _case_with_stale_log(d: Path) -> None:
    c = _fixture_case(d)
    prm = (c / "case.prm").read_text(encoding="latin-1")
    log = next(line.split("=", 1)[1].strip() for line in prm.splitlines() if line.startswith("LOG"))
    write(c / log, "stale log from an earlier run\n")


def _case_prm_fifo(d: Path) -> None:
    c = _fixture_case(d)
    (c / "case.prm").unlink()
    os.mkfifo(c / "case.prm")


# ------------------------------------------------------------------ the runner

def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(ROOT) + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env["HF_HUB_OFFLINE"] = "1"
    env["TRANSFORMERS_OFFLINE"] = "1"
    return env


def _cmd(argv: Argv) -> List[Union[str, bytes]]:
    return [sys.executable, "-m", "bpsom.cli.main", *argv]


def classify(case: Case, out: Outcome) -> str:
    if out.code == -999:
        return "hang"
    if "Traceback (most recent call last)" in out.stderr:
        return "traceback"
    if case.expect == "pipe":
        quiet = "Error" not in out.stderr and "error" not in out.stderr and "Exception" not in out.stderr
        return "clean" if out.code in (0, 1, 141) and quiet else "wrong"
    bpsom_lines = [l for l in out.stderr.splitlines() if l.startswith("bpsom: error:")]
    clean_error = out.code == 2 and len(bpsom_lines) == 1 and out.stderr.rstrip("\n").splitlines()[-1] == bpsom_lines[0]
    if case.expect == "error":
        if out.code == 0:
            return "wrong"
        return "clean" if clean_error else "other"
    if case.expect == "parity":   # 1 = a case differs or failed, reported in the table
        return "clean" if out.code in (0, 1) or clean_error else "other"
    if case.expect == "ok":
        return "clean" if out.code == 0 else ("clean-refused" if clean_error else "other")
    return "clean" if out.code == 0 or clean_error else "other"


def run_case(case: Case, base: Path) -> Outcome:
    d = base / case.name.replace("/", "_").replace("=", "_").replace("-", "_")
    d.mkdir(parents=True)
    if case.setup:
        try:
            case.setup(d)
        except Exception as exc:  # noqa: BLE001 - a broken case must not stop the others
            return Outcome(-1, "", f"setup failed: {exc!r}", 0.0, "setup-failed")
    prefix: List[str] = []
    t0 = time.perf_counter()
    if case.shell:
        line = case.argv.replace("$BPSOM", f"{sys.executable} -m bpsom")  # type: ignore[union-attr]
        proc = subprocess.Popen([*prefix, "bash", "-c", line], cwd=d, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, start_new_session=True)
    else:
        proc = subprocess.Popen([*prefix, *_cmd(case.argv)], cwd=d, env=_env(), stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        so, se = proc.communicate(timeout=case.timeout)
        code = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, 9)
        so, se = proc.communicate()
        code = -999
    out = Outcome(code, so.decode("utf-8", "replace"), se.decode("utf-8", "replace"), time.perf_counter() - t0)
    out.kind = classify(case, out)
    if out.kind in ("clean", "clean-refused") and case.check is not None:
        out.kind = case.check(d, out) or out.kind
    return out


def main(argv: Sequence[str]) -> int:
    import argparse
    from concurrent.futures import ThreadPoolExecutor

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--only", default="", help="run only cases whose name starts with this")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--skip-slow", action="store_true", help="leave out the glue cases")
    ap.add_argument("--json", help="write every outcome here")
    args = ap.parse_args(argv)
    todo = [c for c in cases() if c.name.startswith(args.only) and not (args.skip_slow and c.slow)]
    base = Path(tempfile.mkdtemp(prefix="bpsom-hostile-"))
    if any(c.setup is made_run or (c.setup and "made_run" in repr(c.setup)) for c in todo):
        made_run(Path(tempfile.mkdtemp(prefix="bpsom-hostile-warm-")))   # build the shared run once
    results = {}
    with ThreadPoolExecutor(args.jobs) as pool:
        for case, out in zip(todo, pool.map(lambda c: run_case(c, base), todo)):
            results[case.name] = out
            last = (out.stderr.strip().splitlines() or [""])[-1][:150]
            print(f"{out.kind:14} {case.name:42} rc={out.code:<4} {out.seconds:5.1f}s  {last}", flush=True)
    counts: dict = {}
    for out in results.values():
        counts[out.kind] = counts.get(out.kind, 0) + 1
    print(f"\n{len(results)} cases: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    if args.json:
        Path(args.json).write_text(json.dumps({k: vars(v) for k, v in results.items()}, indent=1))
    shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
