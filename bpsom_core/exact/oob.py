"""What the C program's out-of-bounds reads see (c mode only).

When a hidden layer has more units than the output layer (n = N[last]), the
C's backprop gates hidden unit i by ``fabs(target[i] - act[last][i])`` and so
reads past both arrays for i > n.  This module emulates glibc x86-64 (malloc
chunk layout, 4096-byte stdio buffers) to predict those reads:

* chunk(r) = max(32, r + 8 rounded up to 16); U = chunk(4(n+1)) / 4.
* ``act[last][i]``: 0 for n < i <= U-3, a malloc size word at U-2, 0 at U-1,
  ``error[last][i-U]`` (this example's output deltas) for U <= i <= U+n, 0 beyond.
* ``target[i]``: 0 for n < i <= U-3, a size word at U-2, 0 at U-1, and for
  i >= U the float32 in bytes 4(i-U).. of a stdio buffer R.
* R is the buffer of the first stream that allocates one after the network's
  arrays; its bytes are never cleared: a reading stream copies the file block
  holding its next unread byte to offset 0 (a partial block leaves older bytes,
  end of file leaves the last block), a writing stream is a ring (byte b lands
  at b mod 4096), freed buffers are reused by the next stream.
* Who owns R during each learning pass: by default the LRN file in epoch 1 and
  the log from epoch 2; the LRN file every epoch when a parameter warning is
  printed twice; the log from the start with a SEED argument; stdout from
  epoch 2 with DUMP=2 (or DUMP>=1 with DUMP_LAYER set); with OLD_ENV nothing in
  epoch 1 (zeros), then the files as when a warning is printed twice, unless a
  parameter warning was printed, when nothing ever owns it (zeros).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from .engine import ExactRun
    from ..readers.cdata import CDataset

BLOCK = 4096
_NO_ROWS = np.zeros((1, 0), np.float32)
_NO_IDX = np.zeros(0, np.int32)
_NO_VEC = np.zeros(0, np.float32)


def chunk_size(request: int) -> int:
    """glibc x86-64 malloc chunk size for a request of `request` bytes."""
    return max(32, (request + 8 + 15) // 16 * 16)


def _bits_to_f32(value: int) -> np.float32:
    return np.array([value], dtype=np.uint32).view(np.float32)[0]


class StdioBuffer:
    """The 4096 bytes of the stdio buffer R, as successive streams leave them."""

    def __init__(self) -> None:
        self.buf = bytearray(BLOCK)

    def fill(self, data: bytes, block: int) -> None:
        piece = data[block * BLOCK:(block + 1) * BLOCK]
        self.buf[:len(piece)] = piece

    def read_through(self, data: bytes) -> None:
        """A pass that reads a whole file leaves its blocks in turn, the last one staying."""
        for b in range((len(data) + BLOCK - 1) // BLOCK):
            self.fill(data, b)

    def ring_write(self, start: int, data: bytes) -> None:
        """Bytes start..start+len-1 of a writing stream land at position b mod 4096."""
        if len(data) >= BLOCK:
            start += len(data) - BLOCK
            data = data[-BLOCK:]
        pos = start % BLOCK
        first = min(len(data), BLOCK - pos)
        self.buf[pos:pos + first] = data[:first]
        if first < len(data):
            self.buf[:len(data) - first] = data[first:]


class OobEmulator:
    """Builds the out-of-bounds values the kernels need for each learning pass."""

    def __init__(self, run: "ExactRun", mode: str, n_out: int, widest: int):
        self.run = run
        self.mode = mode
        self.n = n_out
        self.U = chunk_size(4 * (n_out + 1)) // 4
        self.count = widest - n_out          # indices i = n+1 .. widest
        self.R = StdioBuffer()
        self.ring_stream: Optional[str] = None   # 'log' or 'stdout' once a writing stream owns R
        if mode == "log":
            # the log's buffer came first after the arrays: everything logged since its reopening
            self.ring_stream = "log"
            tail = bytes(run.io.log_tail)
            self.R.ring_write(run.io.log_bytes - len(tail), tail)
        run.io.listeners.append(self._on_write)
        act = np.zeros(self.count, np.float32)
        tgt = np.zeros(self.count, np.float32)
        for j in range(self.count):
            i = n_out + 1 + j
            if i == self.U - 2:
                act[j] = _bits_to_f32(chunk_size(4 * (n_out + 1)) | 1)   # size word of error[last]'s chunk
                tgt[j] = _bits_to_f32(chunk_size(BLOCK) | 1)             # size word of R's chunk
        self.act_static = act
        self.tgt_static = tgt
        self.err_at = self.U - (n_out + 1) if self.U - (n_out + 1) < self.count else -1

    @staticmethod
    def none() -> tuple:
        return (_NO_ROWS, _NO_IDX, _NO_VEC, _NO_VEC, -1)

    @classmethod
    def create(cls, run: "ExactRun") -> Optional["OobEmulator"]:
        net = run.net
        if run.cmode != 0:
            return None
        widest = max([int(net.N[l]) for l in range(1, net.L)], default=0)
        n_out = int(net.N[net.L])
        if widest <= n_out:
            return None
        p = run.p
        if len(p.OLD_ENV) > 1:
            # stdout's buffer takes the OLD_ENV stream's freed buffer after epoch 1's learning
            # pass, pushing the next file buffer (R) behind the arrays; if stdout already had a
            # buffer (a parameter warning was printed) file streams keep reusing the freed one
            # and nothing ever follows the arrays
            mode = "none" if run.io.stdout_bytes > 0 else "old_env"
        elif run.duplicate_warning:
            mode = "files"
        elif run.seed_arg is not None:
            mode = "log"
        elif p.DUMP >= 2 or (p.DUMP >= 1 and any(v > 0 for v in p.DUMP_LAYER)):
            mode = "stdout"
        else:
            mode = "default"
        return cls(run, mode, n_out, widest)

    # --- stream events --------------------------------------------------------------------
    def _on_write(self, stream: str, data: bytes) -> None:
        if stream != self.ring_stream:
            return
        total = self.run.io.log_bytes if stream == "log" else self.run.io.stdout_bytes
        self.R.ring_write(total - len(data), data)

    def on_bst_written(self, data: bytes) -> None:
        if self.mode in ("files", "old_env") and self.ring_stream is None:
            self.R.ring_write(0, data)

    def _files_own_r(self, epoch: int) -> bool:
        if self.mode == "files":
            return True
        if self.mode == "old_env":
            return True
        return self.mode in ("default", "stdout") and epoch == 1

    def current_rows(self) -> np.ndarray:
        """R's out-of-bounds targets as they are now (one row)."""
        return self._targets_from(self.R.buf)[None, :]

    # --- passes ------------------------------------------------------------------------------
    def _targets_from(self, buf: bytes) -> np.ndarray:
        row = self.tgt_static.copy()
        for j in range(self.count):
            i = self.n + 1 + j
            if i >= self.U:
                off = 4 * (i - self.U)
                if off + 4 <= BLOCK:
                    row[j] = np.frombuffer(bytes(buf[off:off + 4]), dtype="<f4")[0]
        return row

    def for_pass(self, lrn: int, material: int, ds: "CDataset") -> tuple:
        epoch = self.run.epoch
        old_env_first = (self.mode == "old_env" and epoch == 1) or self.mode == "none"
        if lrn == 1:
            if old_env_first:
                rows = np.zeros((1, self.count), np.float32)
                rows[0] = self.tgt_static
                idx = np.zeros(len(ds), np.int32)
            elif self._files_own_r(epoch):
                data = ds.raw
                nblocks = max(1, (len(data) + BLOCK - 1) // BLOCK)
                rows = np.zeros((nblocks, self.count), np.float32)
                for b in range(nblocks):
                    self.R.fill(data, b)
                    rows[b] = self._targets_from(self.R.buf)
                last = nblocks - 1
                idx = np.minimum(ds.ends // BLOCK, last).astype(np.int32)
            else:
                rows = self._targets_from(self.R.buf)[None, :]
                idx = np.zeros(len(ds), np.int32)
            self._after_pass(lrn, epoch, ds)
            return (np.ascontiguousarray(rows), idx, self.act_static, self.tgt_static, self.err_at)
        self._after_pass(lrn, epoch, ds)
        return self.none()

    def _after_pass(self, lrn: int, epoch: int, ds: "CDataset") -> None:
        """Advance R past this pass (the file is read to its end) and hand it on."""
        if self.mode in ("default", "stdout"):
            if lrn == 1 and epoch == 1:
                self.ring_stream = "log" if self.mode == "default" else "stdout"
            return
        if self.mode == "files" or (self.mode == "old_env" and not (lrn == 1 and epoch == 1)):
            if lrn == 0:
                self.R.read_through(ds.raw)
