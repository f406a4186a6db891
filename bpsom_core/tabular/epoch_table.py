"""The per-epoch table of `bpsom train`: one aligned row per epoch on a rich console.

A reporter: it reads the trainer's history records and prints them; it
computes nothing.
"""

from __future__ import annotations

from typing import Dict, List, Optional


class EpochTable:
    """Prints one aligned row per epoch on stderr, under a transient progress bar."""

    def __init__(self, console, n_layers: int, max_epochs: int, quiet: bool):
        self.console = console
        self.n_layers = n_layers
        self.max_epochs = max_epochs
        self.quiet = quiet
        self.current: Optional[str] = None
        self.last: Optional[Dict[str, object]] = None
        self.history_of_fold: List[Dict[str, object]] = []
        self.progress = None
        self.task = None

    def __enter__(self):
        if not self.quiet and self.console.is_terminal:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
                                     TimeElapsedColumn(), console=self.console, transient=True)
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        self._close_fold()
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def _print(self, text: str) -> None:
        if not self.quiet:
            (self.progress.console if self.progress else self.console).print(text, highlight=False)

    def header(self, name: str) -> None:
        som = " ".join(f"SOM{l + 1}%" for l in range(self.n_layers))
        units = "units"
        # a title only where there is more than one fit to tell apart (the refit after --cv)
        self._print(f"\n[bold cyan]{name}[/]" if name != "train" else "")
        self._print(f"[bold]{'epoch':>5} {'loss':>8} {'MSE':>7} {'CE%':>6} {'val MSE':>8} {'val CE%':>7} "
                    f"{som:>{7 * self.n_layers}} {units:>{6 * self.n_layers}} {'ctx':>3} {'som lr':>6} {'sec':>5}[/]")
        self._start_task(name)

    def _start_task(self, name: str) -> None:
        if self.progress is not None:
            if self.task is not None:
                self.progress.remove_task(self.task)
            self.task = self.progress.add_task(name, total=self.max_epochs)

    def _close_fold(self) -> None:
        """Summarise the fold that just ended: its best epoch and validation scores there."""
        if self.current is None or not self.current.startswith("fold") or self.last is None:
            return
        best = self.last.get("best_epoch")
        rec = next((h for h in self.history_of_fold if h["epoch"] == best), self.last)
        val = f"val CE {rec['val_ce']:.2f}%  val MSE {rec['val_mse']:.4f}" if "val_ce" in rec else \
            f"train CE {rec['train_ce']:.2f}%"
        self._print(f"[bold cyan]{self.current}[/]: best epoch {best} of {self.last['epoch']}, {val}, "
                    f"units {rec['units_alive']}")

    def row(self, name: str, r: Dict[str, object]) -> None:
        """One epoch; cross-validation folds get one summary line each instead of a table."""
        if name != self.current:
            self._close_fold()
            self.current = name
            self.history_of_fold = []
            if name.startswith("fold"):
                self._start_task(name)
            else:
                self.header(name)
        self.last = r
        self.history_of_fold.append(r)
        if name.startswith("fold"):
            if self.progress is not None and self.task is not None:
                self.progress.update(self.task, completed=r["epoch"])
            return
        fmt = lambda v, w, p: f"{v:>{w}.{p}f}" if isinstance(v, (int, float)) else f"{'-':>{w}}"
        som = " ".join(fmt(u, 6, 1) for u in r["som_usage"])
        units = " ".join(f"{u:>5d}" for u in r["units_alive"])
        star = " [green]*[/]" if r.get("best_epoch") == r["epoch"] and "val_ce" in r else ""
        pruned = sum(len(p) for p in r.get("pruned", []))
        prune_note = f" [red]-{pruned} pruned[/]" if pruned else ""
        self._print(f"{r['epoch']:>5d} {fmt(r['train_loss'], 8, 4)} {fmt(r['train_mse'], 7, 4)} "
                    f"{fmt(r['train_ce'], 6, 2)} {fmt(r.get('val_mse'), 8, 4)} {fmt(r.get('val_ce'), 7, 2)} "
                    f"{som:>{7 * self.n_layers}} {units:>{6 * self.n_layers}} {r['som_context']:>3d} "
                    f"{r['som_lr']:>6.3f} {r['seconds']:>5.2f}{star}{prune_note}")
        if self.progress is not None and self.task is not None:
            self.progress.update(self.task, completed=r["epoch"])
