"""A rich progress bar on stderr for the exact engine, shown only on a terminal."""

from __future__ import annotations

import contextlib
import sys
from typing import Iterator, Optional

from bpsom_core.exact.engine import Progress

_PHASES = {(1, 1): "learn", (0, 1): "label", (0, 2): "validate", (0, 3): "test"}


@contextlib.contextmanager
def engine_progress(quiet: bool) -> Iterator[Optional[Progress]]:
    """Yield engine progress hooks drawing a rich bar, or None when quiet / not a terminal."""
    if quiet or not sys.stderr.isatty():
        yield None
        return
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress as RichProgress, TextColumn, TimeElapsedColumn

    console = Console(stderr=True)
    bar = RichProgress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                       TextColumn("{task.fields[rate]} ex/s"), TimeElapsedColumn(), console=console,
                       transient=True)
    state = {"task": None, "t0": 0.0}
    import time

    def start_pass(epoch: int, lrn: int, material: int, n: int) -> None:
        if state["task"] is not None:
            bar.remove_task(state["task"])
        state["task"] = bar.add_task(f"epoch {epoch} {_PHASES.get((lrn, material), '?')}", total=n, rate="-")
        state["t0"] = time.perf_counter()

    def advance(n: int) -> None:
        task = state["task"]
        done = bar.tasks[-1].completed + n if bar.tasks else n
        dt = max(time.perf_counter() - state["t0"], 1e-9)
        bar.update(task, advance=n, rate=f"{done / dt:,.0f}")

    with bar:
        yield Progress(start_pass=start_pass, advance=advance)
