"""The BP-SOM head: where and with which sign the SOM error enters the gradient."""

from __future__ import annotations

import pytest

torch = pytest.importorskip("torch")

from bpsom_bert.head import BPSOMHead  # noqa: E402


def _head(alpha=0.25, threshold=95, hidden=4, grid=2, lr=0.0, context=0, seed=0, backend="auto"):
    torch.manual_seed(seed)
    h = BPSOMHead(6, hidden, 2, grid_size=grid, som_error_weight=alpha,
                  reliability_threshold=threshold, dropout=0.0, seed=seed, backend=backend)
    h.som_lr.fill_(lr)
    h.som_context.fill_(context)
    # cells 0,1 carry class 1 (0-based label 0) and cells 2,3 class 2
    h.cell_labels.copy_(torch.tensor([1, 1, 2, 2]))
    h.reliability.copy_(torch.tensor([100, 96, 97, 40]))
    h.prototypes.copy_(torch.rand(grid * grid, hidden))
    h.train()
    return h


def _grad_z(head, x, y):
    """Total gradient at the hidden pre-activation z (captured on the Linear's output)."""
    store = {}

    def hook(mod, inp, out):
        out.retain_grad()
        store["z"] = out
    handle = head.hidden.register_forward_hook(hook)
    out = head(x, y)
    loss = torch.nn.functional.cross_entropy(out.logits, y)
    if out.som_objective is not None:
        loss = loss + out.som_objective
    loss.backward()
    handle.remove()
    return store["z"], store["z"].grad, out


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_gradient_is_c_delta_in_descent_form(backend):
    """grad_z = (1-a) grad_bp - (a/B) 0.01 R (p - act) where R >= threshold, else grad_bp."""
    torch.manual_seed(1)
    x = torch.randn(8, 6)
    y = torch.tensor([0, 1, 0, 1, 0, 1, 0, 1])
    head = _head(alpha=0.25, backend=backend)
    plain = _head(alpha=0.25, backend=backend)
    plain.load_state_dict(head.state_dict())
    plain.cell_labels.zero_()           # no labelled cell: the SOM never steers
    _, g_bp, _ = _grad_z(plain, x, y)
    z, g, out = _grad_z(head, x, y)
    act = torch.sigmoid(z.detach())
    from bpsom_core import primitives as P
    _, partial, _, _ = P.find_winners(act, head.prototypes, head.cell_labels, y + 1, method="fast")
    rel = head.reliability[partial]
    use = rel >= 95
    assert use.any() and (~use).any()   # both branches are exercised
    som = 0.01 * rel[:, None].float() * (head.prototypes[partial] - act)
    expected = torch.where(use[:, None], 0.75 * g_bp - 0.25 / 8 * som, g_bp)
    torch.testing.assert_close(g, expected, rtol=1e-5, atol=1e-7)
    assert int(out.som_used) == int(use.sum())
    assert float(out.som_objective.detach()) == 0.0   # the surrogate adds gradient, never loss


def test_one_step_moves_activations_toward_the_prototype():
    """With the BP gradient switched off, an SGD step pulls each used act to its prototype."""
    torch.manual_seed(2)
    x = torch.randn(16, 6)
    y = torch.randint(0, 2, (16,))
    head = _head(alpha=0.25, threshold=0)     # every partial winner is reliable enough
    head.classifier.weight.data.zero_()        # grad_bp at z is exactly 0
    opt = torch.optim.SGD(head.hidden.parameters(), lr=5.0)
    from bpsom_core import primitives as P

    def distance():
        with torch.no_grad():
            act = head.hidden_activations(x)
            _, partial, _, d2 = P.find_winners(act, head.prototypes, head.cell_labels, y + 1, method="fast")
            return (head.prototypes[partial] - act).norm(dim=1)
    before = distance()
    out = head(x, y)
    (torch.nn.functional.cross_entropy(out.logits, y) + out.som_objective).backward()
    opt.step()
    after = distance()
    assert (after < before).all(), (before, after)


def test_unreliable_cells_leave_the_bp_gradient_alone():
    torch.manual_seed(3)
    x = torch.randn(5, 6)
    y = torch.ones(5, dtype=torch.long)        # class 2: cells 2 (R=97) and 3 (R=40)
    head = _head(alpha=0.5, threshold=98)      # 97 < 98: nothing steers
    ref = _head(alpha=0.0, threshold=98)
    ref.load_state_dict(head.state_dict())
    _, g, out = _grad_z(head, x, y)
    _, g_ref, _ = _grad_z(ref, x, y)
    assert int(out.som_used) == 0
    torch.testing.assert_close(g, g_ref, rtol=0, atol=0)


def test_som_learns_only_in_training_with_labels():
    head = _head(lr=0.2, context=1)
    x = torch.randn(4, 6)
    before = head.prototypes.clone()
    head.eval()
    head(x, torch.zeros(4, dtype=torch.long))
    assert torch.equal(head.prototypes, before)
    head.train()
    head(x)                                    # no labels: no SOM step
    assert torch.equal(head.prototypes, before)
    head(x, torch.zeros(4, dtype=torch.long))
    assert not torch.equal(head.prototypes, before)


@pytest.mark.parametrize("backend", ["torch", "numpy"])
def test_som_step_uses_the_inorder_update_of_the_primitives(backend):
    from bpsom_core import primitives as P
    head = _head(lr=0.2, context=1, backend=backend)
    head.set_schedule(1, 4, 0.05, 0.2, 0, 1)
    acts = torch.rand(7, 4)
    cls1 = torch.tensor([1, 2, 1, 2, 2, 1, 1])
    w, _, d2, _ = P.find_winners(acts, head.prototypes, head.cell_labels, cls1, method="fast")
    expected = P.som_update(head.prototypes, acts, w, 2, head._context, head._lr,
                            mode="inorder", active=P.update_mask(d2))
    err, use = head.som_step(acts, cls1)
    assert isinstance(err, torch.Tensor) and err.dtype == torch.float32 and use.dtype == torch.bool
    # the NumPy backend's matmul may round differently in the last bit
    tol = 0 if backend == "torch" else 1e-6
    torch.testing.assert_close(head.prototypes, expected, rtol=tol, atol=tol)


def test_relabel_from_epoch_counts_matches_a_labelling_pass():
    """Counting during the epoch with a frozen SOM gives the labelling pass's labels."""
    head = _head(lr=0.0)
    head.collect_epoch_counts = True
    acts = torch.rand(20, 4)
    classes = torch.randint(0, 2, (20,))
    head.som_step(acts[:10], classes[:10] + 1)
    head.som_step(acts[10:], classes[10:] + 1)
    head.relabel()
    from_epoch = (head.cell_labels.clone(), head.reliability.clone(), head.act_std.clone())
    head.relabel(acts, classes)
    assert torch.equal(from_epoch[0], head.cell_labels)
    assert torch.equal(from_epoch[1], head.reliability)
    torch.testing.assert_close(from_epoch[2], head.act_std)
    assert int(head.counts.sum()) == 20


def test_som_term_scales_like_the_mean_loss():
    """Two half batches with loss/2 each (gradient accumulation) give the full batch's gradient."""
    torch.manual_seed(4)
    x = torch.randn(8, 6)
    y = torch.tensor([0, 1, 1, 0, 0, 1, 0, 1])
    full = _head(alpha=0.5, threshold=0)
    half = _head(alpha=0.5, threshold=0)
    half.load_state_dict(full.state_dict())
    out = full(x, y)
    (torch.nn.functional.cross_entropy(out.logits, y) + out.som_objective).backward()
    for sl in (slice(0, 4), slice(4, 8)):
        o = half(x[sl], y[sl])
        ((torch.nn.functional.cross_entropy(o.logits, y[sl]) + o.som_objective) / 2).backward()
    assert int(out.som_used) == 8
    torch.testing.assert_close(half.hidden.weight.grad, full.hidden.weight.grad, rtol=1e-5, atol=1e-7)
    torch.testing.assert_close(half.hidden.bias.grad, full.hidden.bias.grad, rtol=1e-5, atol=1e-7)


def test_bf16_autocast_step_runs_and_keeps_som_in_float32():
    head = _head(alpha=0.25, threshold=0, lr=0.1, context=1)
    x = torch.randn(8, 6)
    y = torch.randint(0, 2, (8,))
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = head(x, y)
    loss = torch.nn.functional.cross_entropy(out.logits.float(), y) + out.som_objective
    loss.backward()
    assert head.prototypes.dtype == torch.float32 and torch.isfinite(head.prototypes).all()
    assert head.hidden.weight.grad is not None and torch.isfinite(head.hidden.weight.grad).all()


def test_pca_init_lays_an_ordered_map_on_the_data_plane():
    torch.manual_seed(5)
    # activations along one strong and one weaker direction in 4 units
    t = torch.rand(200, 2)
    acts = 0.5 + 0.3 * (t[:, :1] - 0.5) * torch.tensor([1.0, 1.0, 0.0, 0.0]) \
        + 0.1 * (t[:, 1:] - 0.5) * torch.tensor([0.0, 0.0, 1.0, -1.0])
    head = BPSOMHead(6, 4, 2, grid_size=5, dropout=0.0, seed=0)
    head.init_prototypes_pca(acts)
    p = head.prototypes.view(5, 5, 4)
    assert float(p.min()) >= 0.0 and float(p.max()) <= 1.0
    # neighbours along x are closer than cells four steps apart (ordered, not random)
    near = (p[1:] - p[:-1]).norm(dim=-1).mean()
    far = (p[4:] - p[:-4]).norm(dim=-1).mean()
    assert 3.5 * near < far < 4.5 * near
    # the map's centre sits at the data mean; x follows the strong axis
    torch.testing.assert_close(p[2, 2], acts.mean(0), rtol=0, atol=1e-5)
    spread_x = (p[4, 2] - p[0, 2]).abs()
    assert spread_x[0] > 5 * spread_x[2]
    # every activation now has a nearby cell: many cells win, not one or two
    from bpsom_core import primitives as P
    w, _, _, _ = P.find_winners(acts, head.prototypes, head.cell_labels, torch.ones(200, dtype=torch.long))
    assert len(set(w.tolist())) >= 10


def test_graph_dispatch_captures_per_shape_and_schedule_and_equals_the_plain_step(monkeypatch):
    """The CUDA-graph path's bookkeeping, with a stand-in that runs the function as a graph
    would (warm-up on copies, then replays reading static buffers); the real capture is
    checked by tests/test_bert_gpu.py on a GPU."""
    import bpsom_bert.head as head_mod

    made = []

    class FakeGraph:
        def __init__(self, fn, example_args, keep=tuple):
            self.fn, self.static_in = fn, [a.clone() for a in example_args]
            fn(*self.static_in)
            made.append(self)

        def __call__(self, *args):
            for buf, a in zip(self.static_in, args):
                buf.copy_(a)
            return self.fn(*self.static_in)

    monkeypatch.setattr(head_mod, "GraphedFunction", FakeGraph)
    graphed = _head(lr=0.2, context=1, backend="torch", hidden=4)
    plain = _head(lr=0.2, context=1, backend="torch", hidden=4)
    monkeypatch.setattr(graphed, "_graphable", lambda acts: True)
    for h in (graphed, plain):
        h.set_schedule(1, 4, 0.05, 0.2, 0, 1)
    g = torch.Generator().manual_seed(3)
    batches = [(torch.rand(7, 4, generator=g), torch.randint(1, 3, (7,), generator=g)) for _ in range(3)]
    batches.append((torch.rand(5, 4, generator=g), torch.randint(1, 3, (5,), generator=g)))  # a short batch
    for acts, cls1 in batches:
        want = plain.som_step(acts, cls1)
        got = graphed.som_step(acts, cls1)
        for a, b in zip(got, want):
            assert torch.equal(a, b)
        assert torch.equal(graphed.prototypes, plain.prototypes)
    assert len(made) == 2                       # one capture per batch shape
    for h in (graphed, plain):
        h.set_schedule(2, 4, 0.05, 0.2, 0, 1)  # a new learning rate: captured again
    graphed.som_step(*batches[0])
    assert len(made) == 3


@pytest.mark.parametrize("som_input", ["dropout", "clean"])
def test_som_input_chooses_whether_the_som_sees_dropout(monkeypatch, som_input):
    torch.manual_seed(0)
    head = BPSOMHead(6, 4, 2, grid_size=2, dropout=0.5, seed=0, som_input=som_input)
    head.train()
    seen = {}
    step = head.som_step

    def spy(acts, classes):
        seen["acts"] = acts.clone()
        return step(acts, classes)
    monkeypatch.setattr(head, "som_step", spy)
    x = torch.randn(16, 6)
    z = []
    handle = head.hidden.register_forward_hook(lambda mod, inp, out: z.append(out.detach()))
    head(x, torch.zeros(16, dtype=torch.long))
    handle.remove()
    clean = head.hidden_activations(x)
    dropped = torch.sigmoid(z[0])                       # the first Linear call: the classifier's input
    assert not torch.allclose(clean, dropped)           # dropout changed what the classifier saw
    expected = clean if som_input == "clean" else dropped
    assert torch.equal(seen["acts"], expected)


def test_som_input_is_checked():
    with pytest.raises(ValueError, match="som_input must be dropout or clean"):
        BPSOMHead(6, 4, 2, som_input="noisy")
