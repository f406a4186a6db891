"""The SOM cell explorer: ``som_cells.tsv`` and a self-contained ``som_explorer.html``.

Input is plain data (:class:`LayerMap` with one :class:`CellSnapshot` per
epoch); :mod:`bpsom_core.explorer_sources` builds it from a `train` or a
`glue` run directory.  The page is drawn with Plotly, whose JavaScript is
inlined so the file opens offline: the map is coloured by cell label and
shaded by reliability, hovering a cell lists its examples nearest to the
prototype, and a slider steps through the epochs that have snapshots.
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass, field
from html import escape
from pathlib import Path
from typing import List, Sequence

import numpy as np

from .atomic import atomic_write_text

UNLABELLED = "rgba(200,200,200,0.35)"
HOVER_EXAMPLES = 8


@dataclass
class CellSnapshot:
    """One epoch of one map: per cell (scan order) its 1-based label (0 none), reliability %,
    number of training examples it won, and those examples nearest to the prototype first."""

    epoch: str
    labels: np.ndarray
    reliability: np.ndarray
    counts: np.ndarray
    examples: List[List[str]] = field(default_factory=list)


@dataclass
class LayerMap:
    """A ``dim`` x ``dim`` map over one hidden layer and its snapshots, oldest first."""

    name: str
    dim: int
    snapshots: List[CellSnapshot]


def cells_tsv(maps: Sequence[LayerMap], class_names: Sequence[str]) -> str:
    """One row per layer, epoch and cell: position, label, reliability, count, nearest examples."""
    buf = io.StringIO()
    w = csv.writer(buf, delimiter="\t", lineterminator="\n")
    w.writerow(["layer", "epoch", "cell", "row", "col", "label", "reliability", "count", "examples"])
    for m in maps:
        for snap in m.snapshots:
            for c in range(m.dim * m.dim):
                label = int(snap.labels[c])
                examples = snap.examples[c] if c < len(snap.examples) else []
                w.writerow([m.name, snap.epoch, c + 1, c // m.dim + 1, c % m.dim + 1,
                            class_names[label - 1] if label > 0 else "", int(snap.reliability[c]),
                            int(snap.counts[c]), " | ".join(" ".join(e.split()) for e in examples)])
    return buf.getvalue()


def _colours(n: int) -> List[tuple]:
    from plotly.colors import hex_to_rgb, qualitative

    palette = qualitative.Plotly + qualitative.Dark24
    return [hex_to_rgb(palette[i % len(palette)]) for i in range(n)]


def _cell_style(m: LayerMap, snap: CellSnapshot, class_names: Sequence[str], rgb: List[tuple]):
    """Marker colours (label hue, reliability as opacity) and hover texts of one snapshot."""
    colours, texts = [], []
    for c in range(m.dim * m.dim):
        label, rel = int(snap.labels[c]), int(snap.reliability[c])
        if label > 0:
            r, g, b = rgb[label - 1]
            colours.append(f"rgba({r},{g},{b},{0.15 + 0.85 * rel / 100:.3f})")
        else:
            colours.append(UNLABELLED)
        examples = snap.examples[c] if c < len(snap.examples) else []
        head = (f"<b>{escape(m.name)}, cell {c + 1} (row {c // m.dim + 1}, col {c % m.dim + 1})</b><br>"
                f"label {escape(class_names[label - 1]) if label > 0 else '(none)'}, reliability {rel}%, "
                f"{int(snap.counts[c])} examples")
        shown = [escape(_clip(e)) for e in examples[:HOVER_EXAMPLES]]
        more = len(examples) - len(shown)
        texts.append(head + "".join(f"<br>• {e}" for e in shown) + (f"<br>… {more} more" if more > 0 else ""))
    return colours, texts


def _clip(text: str, width: int = 110) -> str:
    text = " ".join(text.split())
    return text if len(text) <= width else text[:width - 1] + "…"


def explorer_figure(maps: Sequence[LayerMap], class_names: Sequence[str], title: str):
    """The Plotly figure: one square grid per layer, a legend of labels, an epoch slider."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    rgb = _colours(len(class_names))
    fig = make_subplots(rows=1, cols=len(maps), subplot_titles=[m.name for m in maps])
    epochs = list(dict.fromkeys(s.epoch for m in maps for s in m.snapshots))

    def snapshot_at(m: LayerMap, epoch: str) -> CellSnapshot:
        earlier = [s for s in m.snapshots if epochs.index(s.epoch) <= epochs.index(epoch)]
        return (earlier or m.snapshots)[-1]

    size = max(12, min(60, 420 // max(m.dim for m in maps)))
    for i, m in enumerate(maps, start=1):
        colours, texts = _cell_style(m, snapshot_at(m, epochs[-1]), class_names, rgb)
        cells = np.arange(m.dim * m.dim)
        fig.add_trace(go.Scatter(x=cells % m.dim + 1, y=cells // m.dim + 1, mode="markers",
                                 marker=dict(symbol="square", size=size, color=colours,
                                             line=dict(width=1, color="white")),
                                 hovertext=texts, hoverinfo="text", showlegend=False, name=m.name),
                      row=1, col=i)
        fig.update_xaxes(range=[0.4, m.dim + 0.6], dtick=1, title_text="column", row=1, col=i)
        fig.update_yaxes(range=[m.dim + 0.6, 0.4], dtick=1, title_text="row", scaleanchor=f"x{i if i > 1 else ''}",
                         row=1, col=i)
    for name, (r, g, b) in zip(class_names, rgb):   # legend entries only
        fig.add_trace(go.Scatter(x=[None], y=[None], mode="markers", name=name,
                                 marker=dict(symbol="square", size=12, color=f"rgb({r},{g},{b})")))
    if len(epochs) > 1:
        steps = []
        for epoch in epochs:
            styles = [_cell_style(m, snapshot_at(m, epoch), class_names, rgb) for m in maps]
            steps.append(dict(method="restyle", label=str(epoch),
                              args=[{"marker.color": [s[0] for s in styles], "hovertext": [s[1] for s in styles]},
                                    list(range(len(maps)))]))
        fig.update_layout(sliders=[dict(active=len(epochs) - 1, steps=steps, currentvalue=dict(prefix="epoch "))])
    fig.update_layout(title=title + "<br><sup>colour: cell label; shade: reliability (pale = unreliable); "
                      "hover a cell for its examples nearest to the prototype</sup>",
                      height=560, width=max(620, 520 * len(maps)), plot_bgcolor="white",
                      hoverlabel=dict(align="left"), legend_title_text="label")
    return fig


def write_explorer(out_dir: Path, maps: Sequence[LayerMap], class_names: Sequence[str], title: str) -> List[Path]:
    """Write som_cells.tsv and som_explorer.html (plotly.js inlined: no network needed)."""
    tsv, page = Path(out_dir) / "som_cells.tsv", Path(out_dir) / "som_explorer.html"
    atomic_write_text(tsv, cells_tsv(maps, class_names))
    html = explorer_figure(maps, class_names, title).to_html(include_plotlyjs=True, full_html=True,
                                                             include_mathjax=False)
    atomic_write_text(page, html)
    return [tsv, page]
