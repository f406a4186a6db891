"""The exact engine's network state: the C's arrays, flattened with per-layer offsets.

Arrays are sized once from the architecture the run starts with (as the C
allocates once); pruning shrinks ``N`` and shifts data inside them, and a
reload from a .bst may grow ``N`` back up to the allocated sizes.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..prm_params import MAX_LAST_LAYER
from ..primitives.rules import absorb_unit
from . import kernels as K

NL = MAX_LAST_LAYER + 1


@dataclass
class Network:
    N: np.ndarray          # current layer sizes (6,)
    alloc: np.ndarray      # allocated layer sizes (6,)
    L: int                 # output layer index
    dims: np.ndarray       # SOM grid size per layer (6,), 0 = no SOM
    n_labels: int
    W: np.ndarray
    DOLD: np.ndarray
    woff: np.ndarray
    wstr: np.ndarray
    A: np.ndarray
    E: np.ndarray
    AVG: np.ndarray
    STD: np.ndarray
    aoff: np.ndarray
    P: np.ndarray
    poff: np.ndarray
    LAB: np.ndarray
    PCT: np.ndarray
    CNT: np.ndarray
    coff: np.ndarray
    somconf: np.ndarray
    bpconf: np.ndarray
    LI: np.ndarray
    LF: np.ndarray
    CTR: np.ndarray
    ACC: np.ndarray
    T: np.ndarray
    dist: np.ndarray
    dbg_bp: np.ndarray
    dbg_som: np.ndarray
    S: np.ndarray          # scratch: sums / scaled deltas per unit
    G: np.ndarray          # scratch: weight-update gate per unit

    @property
    def nlab1(self) -> int:
        return self.n_labels + 1

    @classmethod
    def allocate(cls, sizes: list[int], dims: list[int], n_labels: int) -> "Network":
        """Allocate zeroed arrays for an architecture (the C's allocate_memory)."""
        N = np.asarray(sizes, dtype=np.int64)
        L = int(max([i for i, n in enumerate(sizes) if n > 0], default=0))
        dims_a = np.asarray(dims, dtype=np.int64)
        woff = np.zeros(NL, dtype=np.int64)
        wstr = np.zeros(NL, dtype=np.int64)
        total = 0
        for l in range(L):
            woff[l] = total
            wstr[l] = N[l + 1] + 1
            total += (N[l] + 1) * (N[l + 1] + 1)
        aoff = np.zeros(NL, dtype=np.int64)
        atotal = 0
        for l in range(NL):
            aoff[l] = atotal
            atotal += N[l] + 1
        poff = np.zeros(NL, dtype=np.int64)
        coff = np.zeros(NL, dtype=np.int64)
        ptotal = ctotal = 0
        for l in range(NL):
            poff[l] = ptotal
            coff[l] = ctotal
            d = max(int(dims_a[l]), 0) if l <= L else 0
            ptotal += (N[l] + 1) * d * d
            ctotal += d * d
        max_cells = max([int(d) * int(d) for d in dims_a[: L + 1]] + [1])
        maxn = int(N.max())
        return cls(
            N=N.copy(), alloc=N.copy(), L=L, dims=dims_a, n_labels=n_labels,
            W=np.zeros(total, np.float32), DOLD=np.zeros(total, np.float32), woff=woff, wstr=wstr,
            A=np.zeros(atotal, np.float32), E=np.zeros(atotal, np.float32),
            AVG=np.zeros(atotal, np.float32), STD=np.zeros(atotal, np.float32), aoff=aoff,
            P=np.zeros(max(ptotal, 1), np.float32), poff=poff,
            LAB=np.zeros(max(ctotal, 1), np.int64), PCT=np.zeros(max(ctotal, 1), np.int64),
            CNT=np.zeros(max(ctotal, 1) * (n_labels + 1), np.int64), coff=coff,
            somconf=np.zeros((NL, n_labels + 1, n_labels + 1), np.int64),
            bpconf=np.zeros((maxn + 1, maxn + 1), np.int64),
            LI=np.zeros((NL, K.N_LI), np.int64), LF=np.zeros((NL, K.N_LF), np.float32),
            CTR=np.zeros(K.N_CTR, np.int64), ACC=np.zeros(1, np.float32),
            T=np.zeros(maxn + 1, np.float32), dist=np.zeros(max_cells, np.float32),
            dbg_bp=np.zeros(atotal, np.float32), dbg_som=np.zeros(atotal, np.float32),
            S=np.zeros(maxn + 1, np.float32), G=np.zeros(maxn + 1, np.bool_),
        )

    def kernel_state(self) -> "K.NetState":
        """The arrays bundled for the kernels (the same arrays, no copies)."""
        return K.NetState(*(getattr(self, name) for name in K.NetState._fields))

    # --- views in the C's indexing -------------------------------------------------
    def weight(self, l: int) -> np.ndarray:
        """weight[l] as a (N[l]+1, N[l+1]+1) view (rows: source unit i, columns: target j)."""
        rows = self.alloc[l] + 1
        return self.W[self.woff[l]: self.woff[l] + rows * self.wstr[l]].reshape(rows, self.wstr[l])

    def del_old(self, l: int) -> np.ndarray:
        rows = self.alloc[l] + 1
        return self.DOLD[self.woff[l]: self.woff[l] + rows * self.wstr[l]].reshape(rows, self.wstr[l])

    def act(self, l: int) -> np.ndarray:
        return self.A[self.aoff[l]: self.aoff[l] + self.alloc[l] + 1]

    def err(self, l: int) -> np.ndarray:
        return self.E[self.aoff[l]: self.aoff[l] + self.alloc[l] + 1]

    def avg(self, l: int) -> np.ndarray:
        return self.AVG[self.aoff[l]: self.aoff[l] + self.alloc[l] + 1]

    def std(self, l: int) -> np.ndarray:
        return self.STD[self.aoff[l]: self.aoff[l] + self.alloc[l] + 1]

    def ncell(self, l: int) -> int:
        d = int(self.dims[l])
        return d * d if d > 0 and l <= self.L else 0

    def prototypes(self, l: int) -> np.ndarray:
        """SOM vectors of layer l as (N+1, cells) view: [unit i, cell c]."""
        nc = self.ncell(l)
        return self.P[self.poff[l]: self.poff[l] + (self.alloc[l] + 1) * nc].reshape(self.alloc[l] + 1, nc)

    def labels(self, l: int) -> np.ndarray:
        nc = self.ncell(l)
        return self.LAB[self.coff[l]: self.coff[l] + nc]

    def reliability(self, l: int) -> np.ndarray:
        nc = self.ncell(l)
        return self.PCT[self.coff[l]: self.coff[l] + nc]

    def counts(self, l: int) -> np.ndarray:
        nc = self.ncell(l)
        return self.CNT[self.coff[l] * self.nlab1: (self.coff[l] + nc) * self.nlab1].reshape(nc, self.nlab1)

    # --- the C's bookkeeping --------------------------------------------------------
    def clear_som_cell_counters(self) -> None:
        self.LAB[:] = 0
        self.PCT[:] = 0
        self.CNT[:] = 0

    def count_som_cell_winners(self) -> None:
        """Cell label = first class with the strictly largest count; reliability = int percent."""
        from ..primitives import label_cells
        for l in range(self.L + 1):
            if self.dims[l] <= 0:
                continue
            labels, reliability = label_cells(self.counts(l))
            self.labels(l)[:] = labels
            self.reliability(l)[:] = reliability

    def prune_unit(self, l: int, w: int) -> None:
        """The C's prune_weights(l, w): remove hidden unit w, folding its mean into the next bias."""
        n = int(self.N[l])
        wi = self.weight(l - 1)
        wd = self.del_old(l - 1)
        src = slice(w + 1, n + 1)
        dst = slice(w, n)
        rows = slice(0, int(self.N[l - 1]) + 1)
        wi[rows, dst] = wi[rows, src].copy()
        wd[rows, dst] = wd[rows, src].copy()
        wo = self.weight(l)
        do = self.del_old(l)
        nxt = slice(1, int(self.N[l + 1]) + 1)
        mean = self.avg(l)[w]
        wo[0, nxt] = absorb_unit(wo[0, nxt], mean, wo[w, nxt])
        wo[dst, nxt] = wo[src, nxt].copy()
        do[dst, nxt] = do[src, nxt].copy()
        if self.ncell(l):
            pr = self.prototypes(l)
            pr[dst, :] = pr[src, :].copy()
        for arr in (self.avg(l), self.std(l)):
            arr[dst] = arr[src].copy()
        self.N[l] = n - 1
