"""Replay a pure function of fixed-shape tensors from a CUDA graph.

Why: the SOM step of one batch is some fifty small kernels; launched one by
one from Python they cost about a millisecond and a half on a GPU that does
the arithmetic in a few microseconds.  Captured once in a CUDA graph, the
whole step is a single launch.  The function must not sync, must not allocate
on the host, and must not write to its inputs or to any other state: it is
run once on a side stream to warm up (lazy initialisation, cached tables),
then captured.  Its outputs live in the graph's memory and are valid until
the next call.
"""

from __future__ import annotations

from typing import Any, Callable, Sequence

import torch


class GraphedFunction:
    """``fn(*args)`` for args shaped like ``example_args``, replayed from one CUDA graph.

    ``keep`` holds tensors the captured kernels read besides the arguments
    (cached tables): the graph stores their addresses, so they must outlive it.
    """

    def __init__(self, fn: Callable[..., Any], example_args: Sequence[torch.Tensor],
                 keep: Callable[[], Sequence[torch.Tensor]] = tuple):
        self.static_in = [a.detach().clone() for a in example_args]
        stream = torch.cuda.Stream(device=self.static_in[0].device)
        stream.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(stream):
            fn(*self.static_in)
        torch.cuda.current_stream().wait_stream(stream)
        self.keep = tuple(keep())
        self.graph = torch.cuda.CUDAGraph()
        with torch.cuda.graph(self.graph):
            self.static_out = fn(*self.static_in)

    def __call__(self, *args: torch.Tensor) -> Any:
        for buf, a in zip(self.static_in, args):
            buf.copy_(a)
        self.graph.replay()
        return self.static_out
