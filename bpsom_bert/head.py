"""The BP-SOM head: a sigmoid hidden layer whose SOM steers its gradient.

Where the C puts the SOM error (bp.h, ``backprop``): on the hidden units'
*pre-activation* delta.  The C's hidden delta is
``delta = (1-a) * delta_bp + a * 0.01 * R * (p - act)`` with
``delta_bp = act (1-act) sum_j err_j w_ij = -dE/dz``, and the weights move by
``+lr * delta * input``.  In gradient-descent form, for a loss that is the
MEAN over a batch of B examples, example i's pre-activation gradient becomes::

    grad_z_i = (1-a) * grad_z_bp_i  -  (a / B) * 0.01 * R_i * (p_i - act_i)

for examples whose partial winner's reliability R_i reaches the threshold
(``grad_z_i = grad_z_bp_i`` otherwise).  ``grad_z_bp_i`` already carries the
loss's 1/B; the SOM term gets the same explicit 1/B, so each example's pull
relative to its BP error is the C's, whatever the batch size.

How: the ``(1-a)`` factor is a gradient-only scaling of z (identity forward),
and the SOM pull is a zero-valued surrogate, ``som_objective``, that the model
adds to its loss.  Because the pull travels through the loss, anything done to
the loss afterwards (gradient accumulation's division, fp16 loss scaling,
DDP's averaging) applies to both terms alike.  Two mistakes avoided: adding the
term to the post-sigmoid gradient (the C adds it after the sigmoid
derivative), and adding ``+(p - act)`` to a gradient (that pushes AWAY from
the prototype).

The SOM itself (winner search, labelling, update, schedules, statistics,
pruning) is :mod:`bpsom_core.primitives` on torch tensors; this module only
wires it into ``nn.Module`` state.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field
from typing import Optional

import torch
from torch import nn

from bpsom_core import primitives as P
from bpsom_core.params import BPSOMParams

from . import distributed as dist_utils
from .cuda_graph import GraphedFunction


def _where(cond, a, value):
    """``where`` for torch tensors or NumPy arrays (the head's two backends)."""
    if isinstance(cond, torch.Tensor):
        return torch.where(cond, a, value)
    import numpy as np
    return np.where(cond, a, value)


class _ScaleGrad(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by ``factor``."""

    @staticmethod
    def forward(ctx, z: torch.Tensor, factor: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(factor)
        return z.view_as(z)

    @staticmethod
    def backward(ctx, grad: torch.Tensor):
        (factor,) = ctx.saved_tensors
        return grad * factor.to(grad.dtype), None


@dataclass
class HeadOutput:
    """What one head forward returns (the model turns it into a ModelOutput)."""

    logits: torch.Tensor
    activations: torch.Tensor
    som_objective: Optional[torch.Tensor] = None
    som_used: Optional[torch.Tensor] = None   # 0-dim count, kept on device (no sync)
    som_examples: int = 0


class PlainHead(nn.Module):
    """The baseline head: dropout and one Linear on the [CLS] vector."""

    def __init__(self, in_features: int, num_labels: int, dropout: float = 0.1):
        super().__init__()
        self.dropout = nn.Dropout(dropout)
        self.classifier = nn.Linear(in_features, num_labels)

    def forward(self, x: torch.Tensor, classes: Optional[torch.Tensor] = None) -> HeadOutput:
        return HeadOutput(logits=self.classifier(self.dropout(x)), activations=x)


SOM_INPUTS = ("dropout", "clean")


class BPSOMHead(nn.Module):
    """Linear(in -> H) + sigmoid, one D x D SOM over the H units, Linear(H -> labels).

    SOM state lives in buffers (saved, moved by ``.to``): ``prototypes``
    (D*D, H), ``cell_labels`` (D*D,) with 1-based classes and 0 = none,
    ``reliability`` (D*D,) integer percent, ``counts`` (D*D, labels+1),
    ``act_mean``/``act_std`` (H,), and the current ``som_lr``/``som_context``.
    ``classes`` passed to :meth:`forward` are 0-based dataset labels.
    """

    def __init__(self, in_features: int, hidden_size: int, num_labels: int, *,
                 grid_size: int = 20, som_error_weight: float = 0.25,
                 reliability_threshold: int = 95, dropout: float = 0.1,
                 update_mode: str = "inorder", distance: Optional[str] = None,
                 collect_epoch_counts: bool = False, seed: Optional[int] = None,
                 backend: str = "auto", cuda_graph: bool = True, som_input: str = "dropout"):
        super().__init__()
        if update_mode not in ("inorder", "summed"):
            raise ValueError(f"update_mode must be inorder or summed, got {update_mode!r}")
        if som_input not in SOM_INPUTS:
            raise ValueError(f"som_input must be {' or '.join(SOM_INPUTS)}, got {som_input!r}")
        # "dropout": the SOM sees the activations the classifier sees (dropout on [CLS]);
        # "clean": the same units without dropout, as the labelling pass and inference see them
        self.som_input = som_input
        self.num_labels = num_labels
        self.grid_size = grid_size
        som = BPSOMParams(som_error_weight=som_error_weight, reliability_threshold=int(reliability_threshold),
                          som_update=update_mode)
        self.som_error_weight = som.som_error_weight
        self.threshold = som.reliability_threshold
        self.update_mode = update_mode
        if backend not in ("auto", "torch", "numpy"):
            raise ValueError(f"backend must be auto, torch or numpy, got {backend!r}")
        self.backend = backend
        self.distance = distance
        self.collect_epoch_counts = collect_epoch_counts
        self.dropout = nn.Dropout(dropout)
        self.hidden = nn.Linear(in_features, hidden_size)
        self.classifier = nn.Linear(hidden_size, num_labels)
        n_cells = grid_size * grid_size
        gen = torch.Generator().manual_seed(seed) if seed is not None else None
        # C random_weights: 0.5 + (avg - rand())/avg, i.e. uniform on (-0.5, 1.5]
        protos = 0.5 + (1.0 - 2.0 * torch.rand(n_cells, hidden_size, generator=gen))
        self.register_buffer("prototypes", protos)
        self.register_buffer("cell_labels", torch.zeros(n_cells, dtype=torch.long))
        self.register_buffer("reliability", torch.zeros(n_cells, dtype=torch.long))
        self.register_buffer("counts", torch.zeros(n_cells, num_labels + 1, dtype=torch.long))
        self.register_buffer("act_mean", torch.zeros(hidden_size))
        self.register_buffer("act_std", torch.zeros(hidden_size))
        self.register_buffer("som_lr", torch.tensor(0.0))
        self.register_buffer("som_context", torch.tensor(0, dtype=torch.long))
        # gathered during an epoch when collect_epoch_counts (relabel: epoch)
        self.register_buffer("epoch_counts", torch.zeros_like(self.counts), persistent=False)
        self._epoch_acts: list[torch.Tensor] = []
        self._lr: Optional[float] = None        # python copies of som_lr/som_context,
        self._context: Optional[int] = None     # so a training step never syncs a GPU
        # on CUDA, replay each batch shape's SOM step from a CUDA graph (one launch, not ~50)
        self.cuda_graph = cuda_graph
        self._graphs: dict = {}

    @property
    def hidden_size(self) -> int:
        return self.hidden.out_features

    @property
    def n_cells(self) -> int:
        return self.grid_size * self.grid_size

    def set_schedule(self, epoch: int, n_epochs: int, lr_min: float, lr_max: float,
                     context_min: int, context_max: int) -> None:
        """The C's per-epoch SOM learning rate and context (epoch is 1-based)."""
        self._lr = P.lr_schedule(epoch, n_epochs, lr_min, lr_max)
        self._context = P.context_schedule(epoch, n_epochs, context_min, context_max)
        self.som_lr.fill_(self._lr)
        self.som_context.fill_(self._context)

    def _backend_for(self, t: torch.Tensor) -> tuple[str, str]:
        """(primitives backend, distance method) for a step on ``t``'s device.

        ``auto``: CUDA tensors use the torch backend with matmul distances;
        CPU tensors use the NumPy backend of the same primitives on zero-copy
        views, with the "exact" (compiled, BLAS-free) distance kernel.  For a
        batch of 32 against 400 cells a torch CPU op costs more in dispatch
        than in arithmetic, and a BLAS matmul this small loses to its own
        thread hand-offs; the compiled kernels do neither (bench (a)).
        """
        backend = self.backend
        if backend == "auto":
            backend = "numpy" if t.device.type == "cpu" else "torch"
        distance = self.distance or ("exact" if backend == "numpy" else "fast")
        return backend, distance

    def _converters(self, t: torch.Tensor):
        """(to-backend, to-torch, distance method) for primitives calls on ``t``'s device."""
        backend, distance = self._backend_for(t)
        if backend == "numpy":
            def conv(x):
                return x.detach().cpu().numpy()

            def back(a):
                return a if isinstance(a, torch.Tensor) else torch.from_numpy(a)
            return conv, back, distance
        return (lambda x: x), (lambda a: a), distance

    @torch.no_grad()
    def som_step(self, acts: torch.Tensor, classes1: torch.Tensor):
        """One batch of SOM work: winners, in-order update, SOM error. No grad.

        ``acts`` (B, H) float32 local activations, ``classes1`` (B,) 1-based.
        Under torch.distributed the batch of every rank is gathered first and
        every rank applies the identical update, so the SOM never diverges.
        The step is the primitives' winners, update and error term on torch
        tensors (any device; on CUDA replayed from a CUDA graph, see
        ``cuda_graph``) or on NumPy views of the same CPU memory (see
        :meth:`_backend_for`);
        it runs in float32 even inside an autocast region, so the winners do
        not depend on the training precision.  Returns ``(err, use)`` for the
        local examples, as torch tensors on ``acts``' device.
        """
        all_acts, offset = dist_utils.gather_rows(acts)
        all_classes, _ = dist_utils.gather_rows(classes1)
        if self._lr is None:
            self._lr, self._context = float(self.som_lr), int(self.som_context)
        conv, back, distance = self._converters(acts)
        with torch.autocast(acts.device.type, enabled=False):
            a_all, c_all = conv(all_acts.float()), conv(all_classes)
            step = self._step_fn(acts, distance)(a_all, c_all)
        self.prototypes.copy_(back(step.prototypes))
        if self.collect_epoch_counts:
            real = c_all > 0
            # rows without a class count nowhere (winner -1); selecting their activations
            # out is the one sync of relabel: epoch
            counts = P.count_cells(_where(real, step.winner, -1), _where(real, c_all, 0),
                                   self.n_cells, self.num_labels)
            self.epoch_counts += back(counts).to(self.epoch_counts.device)
            self._epoch_acts.append(all_acts[back(real).to(all_acts.device)].detach().clone())
        b = acts.shape[0]
        err, use = back(step.error)[offset:offset + b], back(step.use)[offset:offset + b]
        return err.to(acts.device), use.to(acts.device)

    def _masked_step(self, a_all, c_all, distance: str) -> "P.SomStep":
        """The primitives' batch step, where rows without a class (< 1: a distributed
        sampler's repeated padding) neither move the map nor get a SOM pull (no
        partial winner).  Device ops only: no sync, so a CUDA graph can hold it."""
        conv = self._converters(a_all if isinstance(a_all, torch.Tensor) else self.prototypes)[0]
        protos = conv(self.prototypes)
        winner, partial, winner_d2, partial_d2 = P.find_winners(
            a_all, protos, conv(self.cell_labels), c_all, method=distance)
        real = c_all > 0
        if self.grid_size > 0 and a_all.shape[0] > 0:
            protos = P.som_update(protos, a_all, winner, self.grid_size, self._context, self._lr,
                                  mode=self.update_mode, active=P.update_mask(winner_d2) & real)
        err, use = P.som_error(a_all, protos, partial, conv(self.reliability), self.threshold)
        return P.SomStep(winner, partial, winner_d2, partial_d2, protos, err, use)

    def _step_fn(self, acts: torch.Tensor, distance: str):
        """The batch step for ``acts``: the primitives' step, or its CUDA graph replay."""
        conv = self._converters(acts)[0]

        def step(a, c):
            if not isinstance(c, torch.Tensor) and (c > 0).all():   # NumPy: checking costs nothing
                return P.som_step(a, conv(self.prototypes), conv(self.cell_labels), c, conv(self.reliability),
                                  self.threshold, self.grid_size, self._context, self._lr,
                                  method=distance, mode=self.update_mode)   # one compiled call
            return self._masked_step(a, c, distance)
        if not self._graphable(acts):
            return step
        key = (acts.shape[0], acts.shape[1], self._context, self._lr, distance, self.update_mode, self.threshold,
               self.prototypes.data_ptr(), self.cell_labels.data_ptr(), self.reliability.data_ptr())
        graph = self._graphs.get(key)
        if graph is None:
            if len(self._graphs) >= 4:    # an old schedule or shape: free its memory
                self._graphs.clear()
            example = (acts.detach().float(), torch.ones(acts.shape[0], dtype=torch.long, device=acts.device))
            try:
                graph = self._graphs[key] = GraphedFunction(step, example, keep=P.cached_tables)
            except RuntimeError as exc:  # a capture this torch build refuses: run the kernels one by one
                warnings.warn(f"SOM step not captured in a CUDA graph ({str(exc).splitlines()[0][:120]}); "
                              "running it uncaptured", RuntimeWarning, stacklevel=2)
                self.cuda_graph = False
                return step
        return graph

    def _graphable(self, acts: torch.Tensor) -> bool:
        """CUDA graphs need CUDA, the torch backend, and no collective inside the step."""
        return (self.cuda_graph and acts.device.type == "cuda" and not dist_utils.is_distributed()
                and self._backend_for(acts)[0] == "torch")

    def forward(self, x: torch.Tensor, classes: Optional[torch.Tensor] = None) -> HeadOutput:
        """Logits; with ``classes`` in training mode also the SOM step and its pull."""
        z = self.hidden(self.dropout(x))
        objective, used, n = None, None, 0
        if self.training and classes is not None and self.n_cells > 0:
            if self.som_input == "clean" and self.dropout.p > 0:
                with torch.no_grad():
                    acts = torch.sigmoid(self.hidden(x).float())
            else:
                acts = torch.sigmoid(z.detach().float())
            err, use = self.som_step(acts, classes.long() + 1)
            n, used = z.shape[0], use.sum()
            alpha = self.som_error_weight
            # gradient form of combine_hidden_delta: grad_z = -combine(-g_bp, err/B)
            ones = torch.ones(n, 1, device=z.device, dtype=torch.float32)
            factor = P.combine_hidden_delta(ones, torch.zeros_like(ones), use, alpha)   # 1-a where used
            pull = P.combine_hidden_delta(torch.zeros_like(err), err, use, alpha)      # a*err where used
            zf = z.float()
            objective = -(pull * (zf - zf.detach())).sum() / n   # value 0, d/dz = -pull/B
            z = _ScaleGrad.apply(z, factor)
        act = torch.sigmoid(z)
        logits = self.classifier(act)
        return HeadOutput(logits=logits, activations=act, som_objective=objective,
                          som_used=used, som_examples=n)

    # --- epoch-boundary work ------------------------------------------------

    def hidden_activations(self, x: torch.Tensor) -> torch.Tensor:
        """Sigmoid activations without dropout or SOM work (labelling passes)."""
        return torch.sigmoid(self.hidden(x).float())

    @torch.no_grad()
    def relabel(self, acts: Optional[torch.Tensor] = None,
                classes: Optional[torch.Tensor] = None, chunk: int = 4096) -> None:
        """New cell labels, reliabilities and activation mean/std.

        With ``acts`` (N, H) and 0-based ``classes``: a labelling pass (the
        C's). Without: the counts and activations gathered during the epoch.
        """
        self.label_winners = None   # (winner cell, squared distance) per example, from a labelling pass
        if acts is None:
            counts = self.epoch_counts.clone()
            acts = (torch.cat(self._epoch_acts) if self._epoch_acts
                    else torch.zeros(0, self.hidden_size, device=self.prototypes.device))
        else:
            acts = acts.to(self.prototypes.device, torch.float32)
            cls1 = classes.to(self.prototypes.device).long() + 1
            counts = torch.zeros_like(self.counts)
            conv, back, distance = self._converters(acts)   # as in training: same ties
            protos, labels = conv(self.prototypes), conv(self.cell_labels)
            winners, dists = [], []
            for s in range(0, acts.shape[0], chunk):
                a, c = conv(acts[s:s + chunk]), conv(cls1[s:s + chunk])
                w, _, w_d2, _ = P.find_winners(a, protos, labels, c, method=distance)
                counts += back(P.count_cells(w, c, self.n_cells, self.num_labels)).to(counts.device)
                winners.append(back(w).cpu())
                dists.append(back(w_d2).float().cpu())
            if winners:
                self.label_winners = (torch.cat(winners), torch.cat(dists))
        labels, rel = P.label_cells(counts)
        self.counts.copy_(counts)
        self.cell_labels.copy_(labels)
        self.reliability.copy_(rel)
        if acts.shape[0] > 0:
            mean, std = P.activation_stats(acts)
            self.act_mean.copy_(mean)
            self.act_std.copy_(std)
        self.reset_epoch()

    @torch.no_grad()
    def som_classify(self, acts: torch.Tensor) -> torch.Tensor:
        """The label of each activation row's winner cell (1-based, 0 = unlabelled).

        The SOM used as a classifier, as the C's test pass scores it
        (``SOMs on TST`` in the abstract).
        """
        acts = acts.to(self.prototypes.device, torch.float32)
        conv, back, distance = self._converters(acts)
        none = torch.zeros(acts.shape[0], dtype=torch.long, device=acts.device)
        winner, _, _, _ = P.find_winners(conv(acts), conv(self.prototypes), conv(self.cell_labels),
                                         conv(none), method=distance)
        winner = back(winner).to(self.cell_labels.device).long()
        return self.cell_labels[winner.clamp(min=0)] * (winner >= 0)

    @torch.no_grad()
    def init_prototypes_pca(self, acts: torch.Tensor, spread: float = 2.0) -> None:
        """Lay the map out on the plane of the activations' two main axes.

        The C draws prototypes uniformly from (-0.5, 1.5] and relies on
        hundreds of epochs with a wide neighbourhood to unfold the map; a
        fine-tuning run has a few epochs and the context falls to 0 almost
        at once, so one or two cells would win every example.  Cell (x, y)
        starts at ``mean + u_x * s1 * pc1 + u_y * s2 * pc2`` with ``u`` evenly
        spaced in [-spread, spread] and ``s`` the standard deviations along
        the principal axes (Kohonen's linear initialisation), clipped to the
        sigmoid's [0, 1].  ``acts`` (N, H); deterministic for equal input.
        """
        acts = acts.to(self.prototypes.device, torch.float32)
        d = self.grid_size
        mean = acts.mean(0)
        if acts.shape[0] < 3 or d == 0:
            self.prototypes.copy_(mean.expand_as(self.prototypes))
            return
        _, s, vh = torch.linalg.svd(acts - mean, full_matrices=False)
        n = acts.shape[0]
        axes = [vh[i] * (s[i] / n ** 0.5) if i < vh.shape[0] else torch.zeros_like(mean) for i in (0, 1)]
        u = torch.linspace(-spread, spread, d, device=acts.device) if d > 1 else torch.zeros(1, device=acts.device)
        ux = u.repeat_interleave(d)        # scan order k = x*D + y: x outer
        uy = u.repeat(d)
        protos = mean + ux[:, None] * axes[0] + uy[:, None] * axes[1]
        self.prototypes.copy_(protos.clamp(0.0, 1.0))

    def reset_epoch(self) -> None:
        """Forget counts and activations gathered during the last epoch."""
        self.epoch_counts.zero_()
        self._epoch_acts = []

    @torch.no_grad()
    def prune(self, threshold: float) -> "PruneResult":
        """Remove units whose activation std is at or below ``threshold``.

        Physically shrinks ``hidden`` (rows), ``classifier`` (columns, with
        the pruned units' mean contribution folded into its bias),
        ``prototypes`` and the statistics.  Shrunk weights become NEW
        ``nn.Parameter`` objects (autograd and DDP cache a parameter's shape,
        so resizing ``.data`` in place is not safe); the result lists
        (old, new, unit axis) so :func:`bpsom_bert.pruning.shrink_optimizer_state`
        can carry an optimizer along.
        """
        mask = P.prune_mask(self.act_std.clone(), threshold)
        result = PruneResult(mask=mask)
        if not bool(mask.any()):
            return result
        cls, hid = self.classifier, self.hidden
        mean = self.act_mean.to(cls.bias.dtype)
        new_values = {
            (cls, "bias"): (P.absorb_bias(cls.bias, cls.weight.T, mean, mask), None),
            (cls, "weight"): (P.remove_units(cls.weight, mask, axis=1), 1),
            (hid, "weight"): (P.remove_units(hid.weight, mask, axis=0), 0),
            (hid, "bias"): (P.remove_units(hid.bias, mask, axis=0), 0),
        }
        for (module, name), (value, axis) in new_values.items():
            old = getattr(module, name)
            new = nn.Parameter(value.detach().clone().contiguous(), requires_grad=old.requires_grad)
            setattr(module, name, new)
            result.replaced.append((old, new, axis))
        keep = int((~mask).sum())
        cls.in_features = keep
        hid.out_features = keep
        self.prototypes = P.remove_units(self.prototypes, mask, axis=1).contiguous()
        self.act_mean = P.remove_units(self.act_mean, mask)
        self.act_std = P.remove_units(self.act_std, mask)
        return result


@dataclass
class PruneResult:
    """Which units went, and which parameters replaced which (axis None: same shape)."""

    mask: torch.Tensor
    replaced: list = field(default_factory=list)

    @property
    def n_pruned(self) -> int:
        return int(self.mask.sum())
