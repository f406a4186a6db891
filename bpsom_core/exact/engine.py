"""The exact engine's control flow: the C program's ``main`` and its epoch passes.

Reading order, output order and every bookkeeping rule follow the C; the
numeric work per example runs in `kernels`.  Output goes to a `CStreams`
(stdout bytes, the appended log, stderr notes), the best network to
BEST_ENV through an atomic rename.
"""

from __future__ import annotations

import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Callable, Optional

import numpy as np

from ..atomic import atomic_write_bytes
from ..prm_params import VERSION, CFatal, CParams, check_parameters, parameter_dump
from ..crand import GlibcRandom
from ..errors import InputError
from ..params import BPSOMParams
from ..primitives import rules as R
from ..primitives._fast.parallel import chunks_for
from ..readers.bst import BstNetwork, read_bst
from ..readers.cdata import GRAPHO_INPUTS, CDataset, read_dense, read_grapho
from ..readers.prm import c_filename, read_prm
from ..writers import clog
from ..writers.bst import format_bst
from ..writers.history import write_history
from . import kernels as K
from .network import Network
from .oob import OobEmulator

COMPAT_MODES = R.COMPAT_MODES


class CStreams:
    """Where the run writes: stdout (bytes), the log file (appended), stderr notes."""

    def __init__(self, stdout: BinaryIO, log_path: str, stderr: Optional[BinaryIO] = None):
        self.stdout = stdout
        self.stderr = stderr
        self.log_path = log_path
        self._log = open(log_path, "ab")
        self.stdout_bytes = 0      # bytes written to stdout so far
        self.log_bytes = 0         # bytes written to the log since it was (re)opened
        self.log_tail = bytearray()  # the last 4096 of those bytes
        self.listeners: list[Callable[[str, bytes], None]] = []

    def out(self, text: str) -> None:
        data = text.encode("latin-1")
        self.stdout.write(data)
        self.stdout_bytes += len(data)
        for fn in self.listeners:
            fn("stdout", data)

    def log(self, text: str) -> None:
        if not text:
            return
        data = text.encode("latin-1")
        self._log.write(data)
        self.log_bytes += len(data)
        self.log_tail += data
        if len(self.log_tail) > 4096:
            del self.log_tail[:-4096]
        for fn in self.listeners:
            fn("log", data)

    def both(self, stdout_text: str, log_text: str) -> None:
        self.out(stdout_text)
        self.log(log_text)

    def note(self, text: str) -> None:
        if self.stderr is not None:
            self.stderr.write(text.encode("latin-1"))

    def reopen_log(self) -> None:
        """dump_parameters closes the log and opens it again (a fresh stdio buffer)."""
        self._log.flush()
        self.log_bytes = 0
        self.log_tail = bytearray()

    def close(self) -> None:
        self._log.close()
        try:
            self.stdout.flush()
        except (AttributeError, ValueError):
            pass


@dataclass
class Progress:
    """Hooks for a progress display; the engine calls them, never prints itself."""

    start_pass: Callable[[int, int, int, int], None] = lambda epoch, lrn, material, n: None
    advance: Callable[[int], None] = lambda n: None


def _asctime() -> str:
    return time.asctime(time.localtime()) + "\n"


class ExactRun:
    """One run of the C program's main(), state and all."""

    def __init__(self, params: CParams, streams: CStreams, workdir: Path, compat: str = "c",
                 seed_arg: Optional[str] = None, progress: Optional[Progress] = None):
        if compat not in COMPAT_MODES:
            raise ValueError(f"compat must be one of {COMPAT_MODES}")
        self.p = params
        self.io = streams
        self.dir = workdir
        self.cmode = 0 if compat == "c" else 1
        self.seed_arg = seed_arg
        self.progress = progress or Progress()
        self.epoch = 0
        self.nothing_done = 0
        self.pruned = 0
        self.best_epoch = 0
        self.best_p_correct = np.float32(0.0)
        self.best_class = [np.float32(0.0)] * 4
        self.best_mse = [np.float32(0.0)] * 4
        self.end_class = [np.float32(0.0)] * 4
        self.end_mse = [np.float32(0.0)] * 4
        self.best_som = np.zeros((6, 4), np.float32)
        self.end_som = np.zeros((6, 4), np.float32)
        self.n_pruned = [0] * 6
        self.best_n_pruned = [0] * 6
        self.fraction = [0.0] * 256
        self.som_cont = 0
        self.som_lr = 0.0
        self.data: dict[str, CDataset] = {}
        self.net: Optional[Network] = None
        self.oob: Optional[OobEmulator] = None
        self.duplicate_warning = False
        self.history: list[dict] = []   # one record per pass, for --history
        self.in_abstract = False
        self._som: Optional[BPSOMParams] = None

    @property
    def som(self) -> BPSOMParams:
        """The SOM settings of the (checked) .prm parameters, as every engine reads them."""
        if self._som is None:
            self._som = BPSOMParams.from_prm(self.p)
        return self._som

    # --- helpers -----------------------------------------------------------------------
    def path(self, name: str) -> Path:
        return self.dir / c_filename(name)

    def fatal(self, reason: str) -> InputError:
        self.io.log("\n\nEXIT: fatal error")
        return InputError(reason)

    def load_data(self, name: str) -> CDataset:
        """Read a data file once (the C reopens it every pass); errors name it as the .prm does."""
        if name not in self.data:
            net = self.net
            path = self.path(name)
            try:
                if self.p.FORMAT == "dense":
                    ds = read_dense(path, int(net.N[0]), int(net.N[net.L]), net.n_labels)
                else:
                    ds = read_grapho(path, int(net.N[net.L]), net.n_labels)
            except InputError as exc:
                where = name if exc.path == str(path) else exc.path
                raise InputError(exc.message, where, exc.line, exc.field) from None
            self.data[name] = ds
        return self.data[name]

    # --- main --------------------------------------------------------------------------
    def run(self) -> None:
        p, io = self.p, self.io
        io.log(f"NEW SESSION BPSOM {VERSION} (Copyright 1997 ton weijters)")
        io.log(f"\nTime: {_asctime()}")
        fixed = self.cmode == 1
        try:
            check_parameters(p, io.both, fixed)     # dump_parameters checks first...
            io.log(parameter_dump(p, fixed))
            io.reopen_log()
            log_mark = io.stdout_bytes
            if not fixed:
                check_parameters(p, io.both)        # ...and main checks again (C only)
            self.duplicate_warning = io.stdout_bytes > log_mark
        except CFatal as exc:
            raise self.fatal(f"{exc.reason} (the C program stops here too)")
        self._som = BPSOMParams.from_prm(p)   # the SOM settings, as every engine reads them
        self.user_dump = p.DUMP
        self.best_snapshot = None
        self.validate_architecture()
        self.classlabel = p.class_labels() + [b""] * 512
        if len(p.OLD_ENV) > 1:
            self.read_environment(p.OLD_ENV, first=True)
        else:
            self.net = Network.allocate(p.N, p.DIM_SOM, p.n_labels)
            if self.seed_arg is not None:
                p.SEED = _atoi(self.seed_arg)
                io.log(f"\nSEED={p.SEED} used!")
            self.random_weights(p.SEED)
            self.net.clear_som_cell_counters()
        for name in (p.LRN, p.VAL, p.TST):
            self.load_data(name)
        self.oob = OobEmulator.create(self)
        self.n_pruned = [0] * 6
        self.pruned = 0
        while True:
            self.epoch += 1
            self.nothing_done += 1
            if self.epoch > p.N_EPOCHS or self.nothing_done > p.STOP_IF_NOTHING_DONE:
                if self.cmode == 1 and self.best_snapshot is None:
                    self.best_snapshot = self.snapshot()   # fixed: never end without a best network
                self.abstract()
                io.log(f"\nTime: {_asctime()}")
                io.log(f"\nBP_SOM ({VERSION}) ready\n\n")
                return
            self.som_cont = self.som.context(self.epoch, p.N_EPOCHS)
            self.som_lr = self.som.learning_rate(self.epoch, p.N_EPOCHS)
            self.reset_avg_act()
            self.reset_std()
            self.complete_epoch(1, 1)
            if self.epoch % p.TEST_RATIO == 0:
                self.count_avg(self.example)
                self.reset_std()
                self.net.clear_som_cell_counters()
                self.complete_epoch(0, 1)
                self.net.count_som_cell_winners()
                self.count_std(self.example)
                self.dump_som_labeling()
                self.dump_avg_std()
                self.complete_epoch(0, 2)
                if R.pruning_enabled(self.som.prune_threshold):
                    self.prune_if_possible()
                self.complete_epoch(0, 3)

    def validate_architecture(self) -> None:
        """Architectures the C cannot run sensibly are errors for us, in both modes."""
        p = self.p
        L = p.last_layer
        if L == 0:
            raise InputError("the network needs at least an input and an output layer", None, None, "BP-architecture")
        for l in range(L):
            if p.N[l] <= 0:
                raise InputError(f"layer {l} has no units but layer {L} does", None, None, "BP-architecture")
        if p.DUMP > 2:
            raise InputError("DUMP = 3 makes the C program read examples from the terminal; use 0, 1 or 2",
                             None, None, "DUMP")
        if p.FORMAT == "grapho" and p.N[0] < GRAPHO_INPUTS:
            raise InputError(f"grapho data needs {GRAPHO_INPUTS} input units (9 positions x 42 characters), "
                             f"the architecture has {p.N[0]}", None, None, "BP-architecture")
        if p.n_labels < 1:
            raise InputError("ALL_LABELS names no class", None, None, "ALL_LABELS")
        if any(d < 0 for d in p.DIM_SOM):
            raise InputError("a SOM size is negative", None, None, "SOM-architecture")

    def random_weights(self, seed: int) -> None:
        net = self.net
        g = GlibcRandom(seed)
        ra = np.float32(0.0)
        for _ in range(1000):
            ra = np.float32(ra + np.float32(g.rand() // 1000))
        count = sum((int(net.N[l]) + 1) * int(net.N[l + 1]) for l in range(net.L))
        som_layers = net.L + 1 if self.cmode == 1 else net.L
        count += sum(int(net.dims[l]) ** 2 * int(net.N[l]) for l in range(som_layers) if net.dims[l] > 0)
        rands = g.take(count)
        som_layers = net.L + 1 if self.cmode == 1 else net.L
        used = K.random_weights(rands, net.N, net.L, net.W, net.woff, net.wstr, net.dims, net.P, net.poff, ra,
                                som_layers)
        assert used == count

    # --- environment files ---------------------------------------------------------------
    def save_environment(self, name: str) -> None:
        net = self.net
        N = [int(n) for n in net.N]
        dims = [int(d) for d in net.dims]

        def weights(l):
            return net.weight(l)[: N[l] + 1, 1: N[l + 1] + 1]

        def som(l):
            return net.labels(l), net.reliability(l), net.prototypes(l)[1: N[l] + 1, :].T

        data = format_bst(N, dims, weights, som)
        try:
            atomic_write_bytes(self.path(name), data)
        except OSError as exc:
            self.io.out(f"\nImpossible to create {name}!")
            raise self.fatal(f"{name}: cannot write the network file ({exc.strerror})") from None
        if self.oob is not None:
            self.oob.on_bst_written(data)

    def read_environment(self, name: str, first: bool) -> None:
        io = self.io
        io.note(f"opening {name}\n")
        path = self.path(name)
        if not path.exists():
            io.out(f"\nImpossible to open {name}!")
            raise self.fatal(f"{name}: network file not found (the C program stops here too)")
        try:
            bst = read_bst(path, self.p.n_labels)
        except InputError as exc:
            raise InputError(exc.message, name, exc.line, exc.field) from None
        io.log("\n\nNew network format: ")
        for n in bst.N:
            io.log(f"{n} ")
        io.log("\nDIM_SOMS = ")
        for d in bst.dims:
            io.log(f"{d} ")
        if first:
            self.net = Network.allocate(bst.N, bst.dims, self.p.n_labels)
        else:
            self.check_reload_fits(bst, name)
        self.load_bst(bst)

    def check_reload_fits(self, bst: BstNetwork, name: str) -> None:
        net = self.net
        for l in range(6):
            if bst.N[l] > net.alloc[l] or (bst.dims[l] != net.dims[l] and l <= net.L):
                raise InputError("network file does not match the network of this run", name, 1, "layer sizes")

    def load_bst(self, bst: BstNetwork) -> None:
        net = self.net
        net.N[:] = bst.N
        net.dims[:] = bst.dims
        for l in range(net.L):
            net.weight(l)[: bst.N[l] + 1, 1: bst.N[l + 1] + 1] = bst.weights[l]
        for l in range(net.L + 1):
            if bst.dims[l] > 0:
                net.labels(l)[:] = bst.cell_labels[l]
                net.reliability(l)[:] = bst.reliability[l]
                net.prototypes(l)[1: bst.N[l] + 1, :] = bst.vectors[l].T

    def snapshot(self) -> dict:
        """The network as save_environment would write it, but at full precision."""
        net = self.net
        return {"N": net.N.copy(), "W": net.W.copy(), "P": net.P.copy(), "LAB": net.LAB.copy(),
                "PCT": net.PCT.copy()}

    def restore(self, snap: dict) -> None:
        """Load a snapshot back (fixed mode's abstract), logging it as read_environment does."""
        net, io = self.net, self.io
        io.log("\n\nNew network format: ")
        for n in snap["N"]:
            io.log(f"{int(n)} ")
        io.log("\nDIM_SOMS = ")
        for d in net.dims:
            io.log(f"{int(d)} ")
        net.N[:] = snap["N"]
        net.W[:] = snap["W"]
        net.P[:] = snap["P"]
        net.LAB[:] = snap["LAB"]
        net.PCT[:] = snap["PCT"]

    # --- statistics --------------------------------------------------------------------
    def reset_avg_act(self) -> None:
        # the C's reset_avg_act clears the std array (so averages are never reset); fixed resets them
        if self.cmode == 1:
            self.net.AVG[:] = 0.0
        else:
            self.net.STD[:] = 0.0

    def reset_std(self) -> None:
        self.net.STD[:] = 0.0

    def count_avg(self, number: int) -> None:
        net = self.net
        for l in range(1, net.L):
            R.finish_means(net.avg(l)[1:int(net.N[l]) + 1], np.float32(number))

    def count_std(self, teller: int) -> None:
        net = self.net
        for l in range(1, net.L):
            R.finish_stds(net.std(l)[1:int(net.N[l]) + 1], np.float32(teller))

    # --- passes ------------------------------------------------------------------------
    def dumps_per_example(self, lrn: int) -> bool:
        p = self.p
        layers = p.DUMP > 0 and any(v > 0 for v in p.DUMP_LAYER[: self.net.L + 1])
        if self.cmode == 1 and self.user_dump == 0:
            layers = False   # fixed: the abstract's DUMP=1 no longer turns on DUMP_LAYER dumps
        return (p.DUMP > 1 and lrn == 1) or layers

    def complete_epoch(self, lrn: int, material: int) -> None:
        p, net = self.p, self.net
        name = {1: p.LRN, 2: p.VAL, 3: p.TST}[material]
        ds = self.load_data(name)
        net.LF[:, K.TOTDIST] = 0.0
        net.LI[:, K.SOMOK] = 0
        net.LI[:, K.USECNT] = 0
        net.CTR[K.EXAMPLE] = 0
        net.CTR[K.TEL_OK] = 0
        net.ACC[0] = 0.0
        if p.DUMP > 0:
            net.somconf[:] = 0
        stat_mode = 0
        if material == 1 and self.epoch % p.TEST_RATIO == 0:
            stat_mode = 1 if lrn == 1 else 2
        oob = self.oob.for_pass(lrn, material, ds) if self.oob is not None else OobEmulator.none()
        n = len(ds)
        self.progress.start_pass(self.epoch, lrn, material, n)
        data = K.PassData(ds.kind == "dense", ds.onact if ds.onact is not None else _EMPTY_ONACT,
                          ds.inputs if ds.inputs is not None else _EMPTY_F2,
                          ds.targets if ds.targets is not None else _EMPTY_F2, ds.labels)
        f32 = np.float32
        settings = K.PassSettings(lrn, material, p.DUMP > 0, stat_mode, self.cmode, f32(p.BP_LEARN_RATE),
                                  f32(p.MOMENTUM), f32(p.ERROR_LEARN_THRESHOLD), f32(self.som.som_error_weight),
                                  f32(self.som_lr), self.som_cont, self.som.reliability_threshold,
                                  p.MM_AFTER_N_EXAMPLES)
        state = net.kernel_state()

        def run_examples(k0: int, k1: int, phase: int) -> None:
            K.run_examples(k0, k1, phase, settings, state, data, oob)

        if self.dumps_per_example(lrn):
            # the C writes an example's dump lines before its weight updates; when the log is the
            # buffer its out-of-bounds reads see, the updates must wait for those lines
            split = lrn == 1 and self.oob is not None and self.oob.ring_stream == "log"
            for k in range(n):
                run_examples(k, k + 1, 1 if split else 0)
                self.dump_example(k, lrn, ds)
                if split:
                    K.finish_backprop(k, settings, state, data, self.oob.current_rows(), self.oob.act_static,
                                      self.oob.err_at)
                self.progress.advance(1)
        elif lrn == 0 and stat_mode != 1:
            chunk = 8192
            for k0 in range(0, n, chunk):
                k1 = min(n, k0 + chunk)
                n_chunks = chunks_for(k1 - k0, (k1 - k0) * (net.W.size + net.P.size),  # the thread policy
                                      kernel=K.evaluate_parallel)
                if n_chunks:
                    K.evaluate_parallel(k0, k1, settings, state, data, n_chunks)
                else:
                    K.evaluate_serial(k0, k1, settings, state, data, 1)
                self.progress.advance(k1 - k0)
        else:
            chunk = 4096
            for k0 in range(0, n, chunk):
                k1 = min(n, k0 + chunk)
                run_examples(k0, k1, 0)
                self.progress.advance(k1 - k0)
        self.example = int(net.CTR[K.EXAMPLE])
        if self.epoch == 1 and lrn == 1:
            counts = np.bincount(ds.labels, minlength=256)
            self.fraction[0] = float(np.float32(self.fraction[0] + n))
            for c in range(1, 256):
                self.fraction[c] = float(np.float32(self.fraction[c] + counts[c]))
        self.administrate(lrn, material)

    def dump_example(self, k: int, lrn: int, ds: CDataset) -> None:
        """The per-example log lines of DUMP levels 1 and 2, in the C's order."""
        p, net, io = self.p, self.net, self.io
        parts = []
        if p.DUMP > 1 and lrn == 1:
            for l in range(net.L + 1):
                D = int(net.dims[l])
                if D <= 0:
                    continue
                wx, wy = int(net.LI[l, K.WX]), int(net.LI[l, K.WY])
                if wx > 0 and wy > 0 and R.moves_som(net.LF[l, K.MINDIST]):
                    c = self.som_cont
                    for x in range(wx - c, wx + c + 1):
                        for y in range(wy - c, wy + c + 1):
                            if 1 <= x <= D and 1 <= y <= D:
                                d = max(abs(x - wx), abs(y - wy))
                                parts.append(f"\nSOM{l} x={x} y={y} updated (distance={d})")
        if p.DUMP > 0 and (self.cmode == 0 or self.user_dump > 0):
            ok = net.CTR[K.RES_TARGET] == net.CTR[K.RES_OUT]
            parts.append(clog.dump_result(
                bool(ok), self.classlabel[int(ds.labels[k])], p.DUMP_LAYER, net.L, net.dims,
                lambda l: (int(net.LI[l, K.PWX]), int(net.LI[l, K.PWY]), int(net.LI[l, K.PREL]),
                           float(net.LF[l, K.PDIS])),
                net.act, [int(v) for v in net.N], net.T))
        if p.DUMP > 1 and lrn == 1 and net.CTR[K.DID_BP]:
            for l in range(net.L - 1, 0, -1):
                parts.append(f"\n\nExample={int(net.CTR[K.EXAMPLE])}: ")
                if net.LI[l, K.USE] == 1:
                    parts.append(f"som_error l={l} x={int(net.LI[l, K.PWX])} y={int(net.LI[l, K.PWY])}")
                base = int(net.aoff[l])
                for i in range(1, int(net.N[l]) + 1):
                    parts.append(f"\nU{i}: BP_ERROR={float(net.dbg_bp[base + i]):8.5f} "
                                 f"SOM_ERROR={float(net.dbg_som[base + i]):8.5f} ERROR={float(net.E[base + i]):8.5f}")
        io.log("".join(parts))

    def administrate(self, lrn: int, material: int) -> None:
        p, net, io = self.p, self.net, self.io
        example = self.example
        if example <= 0:
            return
        if self.epoch == 1 and lrn == 1:
            for i in range(1, net.n_labels + 1):
                self.fraction[i] = float(np.float32(np.float32(self.fraction[i]) / np.float32(self.fraction[0])))
            io.log(clog.fractions(net.n_labels, self.fraction))
        mse = np.float32(net.ACC[0] / np.float32(example))
        p_correct = np.float32((100.0 * int(net.CTR[K.TEL_OK])) / example)
        line = f"\n{self.epoch}/{p.N_EPOCHS} LRN={lrn} MAT={material} MSE={float(mse):5.3f} CE={100.0 - float(p_correct):6.2f} USE"
        io.both(line, line)
        for l in range(1, net.L + 1):
            if net.dims[l] > 0:
                v = (100.0 * int(net.LI[l, K.USECNT])) / example
                io.both(f" SOM{l}={v:5.1f} ", f" SOM{l}={v:5.1f}")
        self.history.append({
            "epoch": self.epoch, "phase": {(1, 1): "learn", (0, 1): "label", (0, 2): "validate",
                                           (0, 3): "test"}[(lrn, material)],
            "abstract": self.in_abstract, "examples": example, "mse": float(mse),
            "classification_error": 100.0 - float(p_correct),
            "som_use_percent": {str(l): (100.0 * int(net.LI[l, K.USECNT])) / example
                                for l in range(1, net.L + 1) if net.dims[l] > 0},
            "units": [int(n) for n in net.N[: net.L + 1]]})
        self.end_class[material] = p_correct
        self.end_mse[material] = mse
        for l in range(net.L + 1):
            self.end_som[l, material] = np.float32(100.0 * int(net.LI[l, K.SOMOK]) / example)
        if material == 2:
            better = (R.better_network(p_correct, mse, self.best_p_correct, self.best_mse[2], self.pruned == 1)
                      or (self.cmode == 1 and self.best_epoch == 0))   # fixed: 0% accuracy still saves
            if better:
                self.best_p_correct = p_correct
                self.best_mse[2] = mse
                self.best_epoch = self.epoch
                self.nothing_done = 0
                self.pruned = 0
                self.history[-1]["new_best"] = True
                if len(p.BEST_ENV) > 1:
                    io.both("*", "*")
                    self.save_environment(p.BEST_ENV)
                if self.cmode == 1:
                    self.best_snapshot = self.snapshot()
        if material == 3 and self.epoch == self.best_epoch:
            for i in range(1, 4):
                self.best_class[i] = self.end_class[i]
                self.best_mse[i] = self.end_mse[i]
                self.best_som[:, i] = self.end_som[:, i]
            for l in range(1, net.L):
                self.best_n_pruned[l] = self.n_pruned[l]
        if material == 1 and lrn == 1 and p.DUMP > 0:
            io.log(self.soms_epoch_score(example))
        if p.DUMP > 0 and material == 3:
            for l in range(net.L + 1):
                if net.dims[l] > 0:
                    pct = float(np.float32(100.0 * int(net.LI[l, K.SOMOK]) / example))
                    io.log(clog.som_conf_matrix(l, pct, net.somconf[l], net.n_labels, self.classlabel))

    def soms_epoch_score(self, example: int) -> str:
        net = self.net
        out = ["\n\nSOMs-information: "]
        for l in range(net.L + 1):
            if net.dims[l] > 0 and example > 0:
                avg = float(np.float32(net.LF[l, K.TOTDIST] / np.float32(example)))
                out.append(f"\nSOM{l} avg_eucl_dist={avg:6.3f} cont={self.som_cont} l_r={self.som_lr:6.3f}")
        return "".join(out)

    def dump_som_labeling(self) -> None:
        net = self.net
        for l in range(net.L + 1):
            if net.dims[l] > 0:
                self.io.log(clog.som_labeling(l, int(net.dims[l]), net.labels(l), net.reliability(l),
                                              net.counts(l), self.classlabel))

    def dump_avg_std(self) -> None:
        net = self.net
        for l in range(1, net.L):
            self.io.log(clog.avg_std(l, int(net.N[l]), net.avg(l), net.std(l), self.som.prune_threshold))

    def prune_if_possible(self) -> None:
        net = self.net
        for l in range(1, net.L):
            stds = net.std(l)[1:int(net.N[l]) + 1].copy()
            for gone, unit in enumerate(R.pruning_choice(stds, self.som.prune_threshold, COMPAT_MODES[self.cmode])):
                slot = unit + 1 - gone   # 1-based slot of that unit once the earlier ones are gone
                self.n_pruned[l] += 1
                mark = clog.prune_mark(l, self.n_pruned[l])
                self.io.both(mark, mark)
                if self.history:
                    self.history[-1].setdefault("pruned", []).append({"layer": l, "unit": slot})
                net.prune_unit(l, slot)
                self.pruned = 1
                self.nothing_done = 0

    # --- abstract ----------------------------------------------------------------------
    def abstract(self) -> None:
        p, net, io = self.p, self.net, self.io
        self.in_abstract = True

        def row(epoch, mse, cls, som):
            pairs = [(float(mse[m]), 100.0 - float(cls[m])) for m in (1, 2, 3)]
            soms = {l: 100.0 - float(som[l, 3]) for l in range(1, net.L + 1) if net.dims[l] > 0}
            return (epoch, *pairs, soms)

        io.log(clog.abstract([row(self.best_epoch, self.best_mse, self.best_class, self.best_som),
                              row(self.epoch, self.end_mse, self.end_class, self.end_som)]))
        if self.cmode == 1:
            self.restore(self.best_snapshot)   # fixed: the best network at full precision
        else:
            self.read_environment(p.BEST_ENV, first=False)
        self.nothing_done = 0
        net.bpconf[:] = 0
        if self.cmode == 0:
            self.reset_avg_act()
        self.reset_std()
        self.count_avg(1)
        self.epoch = self.best_epoch
        net.clear_som_cell_counters()
        self.complete_epoch(0, 1)
        net.count_som_cell_winners()
        self.count_std(self.example)
        self.dump_som_labeling()
        self.dump_avg_std()
        p.DUMP = 1
        net.bpconf[:] = 0
        self.complete_epoch(0, 3)
        io.log(clog.bp_conf_matrix(net.bpconf, net.n_labels, self.classlabel))
        io.log(clog.pruned_units({l: self.best_n_pruned[l] for l in range(1, net.L)}))


_EMPTY_ONACT = np.zeros((0, 9), np.int32)
_EMPTY_F2 = np.zeros((0, 0), np.float32)


def _atoi(text: str) -> int:
    """C atoi: optional white space and sign, then digits; 0 when there are none."""
    import re
    m = re.match(r"\s*([+-]?\d+)", text)
    if not m:
        return 0
    v = int(m.group(1)) & 0xFFFFFFFF
    return v - (1 << 32) if v >= (1 << 31) else v


def run_experiment(prm_path: str | os.PathLike, seed: Optional[str] = None, compat: str = "c",
                   stdout: Optional[BinaryIO] = None, stderr: Optional[BinaryIO] = None,
                   progress: Optional[Progress] = None, data_format: Optional[str] = None,
                   history_path: Optional[str | os.PathLike] = None) -> list[dict]:
    """Run a C-format experiment in the directory holding the .prm (like ``bpsom FILE.prm [SEED]``).

    Raises InputError for bad input; everything the C writes is written to
    `stdout`, the LOG file and the BEST_ENV file.  Returns one record per pass
    (also written as JSON to `history_path`, atomically, when given).
    """
    prm_path = Path(prm_path)
    params = read_prm(prm_path)
    if data_format is not None:
        params.FORMAT = data_format
    workdir = Path.cwd()
    stdout = stdout if stdout is not None else sys.stdout.buffer
    try:
        streams = CStreams(stdout, str(workdir / c_filename(params.LOG)), stderr)
    except OSError as exc:
        stdout.write(f"\nFatal error: open log file {params.LOG} failed!".encode("latin-1"))
        raise InputError(f"cannot open the log file: {exc.strerror}", params.LOG) from None
    run = ExactRun(params, streams, workdir, compat=compat, seed_arg=seed, progress=progress)
    try:
        run.run()
    except InputError as exc:
        if exc.path is None:
            exc = InputError(exc.message, str(prm_path), exc.line, exc.field)
        raise exc from None
    finally:
        streams.close()
    if history_path is not None:
        write_history(history_path, {"prm": str(prm_path), "compat": compat, "passes": run.history})
    return run.history
