"""Plots from plain arrays: the U-matrix values, the SOM map shading, and PNG output."""

from __future__ import annotations

import numpy as np
import pytest

from bpsom_core import plots


def test_umatrix_is_mean_neighbour_distance():
    grid = np.zeros((2, 3, 1))
    grid[1, :, 0] = 3.0  # second row of cells far from the first
    grid[0, 2, 0] = 1.0
    u = plots.umatrix(grid)
    # cell (0,0): neighbours (1,0) at 3 and (0,1) at 0 -> 1.5
    assert u[0, 0] == pytest.approx(1.5)
    # cell (0,2): neighbours (1,2) at 2 and (0,1) at 1 -> 1.5
    assert u[0, 2] == pytest.approx(1.5)
    # cell (1,1): neighbours (0,1) at 3, (1,0) at 0, (1,2) at 0 -> 1
    assert u[1, 1] == pytest.approx(1.0)
    assert plots.umatrix(np.ones((1, 1, 4)))[0, 0] == 0.0


def test_som_map_shades_by_reliability():
    labels = np.array([[1, 2], [0, 1]])
    rel = np.array([[100, 50], [0, 0]])
    fig = plots.plot_som_map(labels, rel, ["a", "b"])
    rgb = fig.axes[0].images[0].get_array()  # drawn transposed: rgb[y, x]
    colours = plots._class_colours(2)
    np.testing.assert_allclose(rgb[0, 0], colours[0])                     # label 1, fully reliable
    np.testing.assert_allclose(rgb[1, 0], 1 - 0.5 * (1 - colours[1]))     # label 2, 50%: paler
    np.testing.assert_allclose(rgb[0, 1], [1, 1, 1])                      # unlabelled: white
    texts = sorted(t.get_text() for t in fig.axes[0].texts)
    assert texts == ["0", "100", "50"]


def test_every_plot_writes_a_png(tmp_path):
    rng = np.random.default_rng(0)
    records = [{"epoch": e, "train_ce": 10.0 / e, "val_ce": 12.0 / e, "train_mse": 0.1 / e, "val_mse": 0.2 / e,
                "som_usage": [50.0 + e, None], "units_alive": [10 - e // 3, 5], "best_epoch": 3}
               for e in range(1, 8)]
    epochs, ce, mse, usage, alive, best = plots.history_series(records)
    assert list(usage) == ["layer 1"] and alive["layer 1"][-1] == 8 and best == 3
    figs = {
        "map": plots.plot_som_map(rng.integers(0, 4, (6, 6)), rng.integers(0, 101, (6, 6)), ["x", "y", "z"]),
        "umatrix": plots.plot_umatrix(rng.random((6, 6, 5))),
        "history": plots.plot_history(epochs, ce, mse, usage, alive, best),
        "std": plots.plot_unit_std([rng.random(8), rng.random(3)], 0.2, [np.arange(8), np.array([0, 2, 5])]),
        "confusion": plots.plot_confusion(np.array([[5, 1], [0, 7]]), ["p", "q"]),
    }
    for name, fig in figs.items():
        path = plots.save_png(fig, tmp_path / f"{name}.png")
        assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(f"{n}.png" for n in figs)


def test_plots_do_not_touch_the_pyplot_backend():
    import subprocess
    import sys

    code = ("import numpy as np, sys\nfrom bpsom_core import plots\n"
            "plots.plot_umatrix(np.zeros((2, 2, 1)))\nassert 'matplotlib.pyplot' not in sys.modules\n")
    subprocess.run([sys.executable, "-c", code], check=True)
