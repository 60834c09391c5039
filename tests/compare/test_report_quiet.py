"""Quiet outputs in the comparison report (issue 23, P7): "In short" names a kind that is far
too quiet instead of calling it the lowest-tonal, and each per-layer panel greys kinds by the
levels of its own stage."""
from __future__ import annotations

import numpy as np
import pytest

from audioup.compare.plots import QUIET_COLOR, plot_per_layer, quiet_kinds
from audioup.compare.report import summary
from audioup.compare.runner import Comparison

N_FFT, RATE = 1024, 22050
FREQS = np.arange(N_FFT // 2 + 1) * RATE / N_FFT


def _spectrum(low_db, high_db):
    return {"n_fft": N_FFT, "sample_rate": RATE, "db": np.where(FREQS < 1000, low_db, high_db).tolist()}


def _rec(kind, step, tonal, level, low_db=-20.0, high_db=-30.0, per_layer=3.0):
    return {"kind": kind, "step": step, "tonal_score_db": tonal, "level_db": level, "mel_l1": 1.0,
            "spectrum": _spectrum(low_db, high_db), "per_layer": {"layer1": {"mean_db": per_layer}}}


@pytest.fixture
def comp(tmp_path):
    c = Comparison(tmp_path, tmp_path / "demo.yaml", ["transposed", "resize-nearest", "sinc"], [0, 150])
    c.reference = {"tonal_score_db": 0.7, "spectrum": _spectrum(-20.0, -30.0),
                   "per_layer": {"layer1": {"mean_db": 0.5, "factor": 2, "input_rate_hz": 5512.5}}}
    c.results = {
        0: {"transposed": _rec("transposed", 0, 33.6, -3), "resize-nearest": _rec("resize-nearest", 0, 1.2, -2),
            "sinc": _rec("sinc", 0, 1.0, -6)},
        # after training sinc is 30 dB quiet overall and 100 dB quiet above 1 kHz: its 0.3 dB means nothing
        150: {"transposed": _rec("transposed", 150, 59.3, -1), "resize-nearest": _rec("resize-nearest", 150, 8.6, -2),
              "sinc": _rec("sinc", 150, 0.3, -30, low_db=-50.0, high_db=-130.0)}}
    return c


def test_in_short_names_the_quiet_kind_instead_of_ranking_it_lowest(comp):
    lines = summary(comp)
    after = next(line for line in lines if line.startswith("Tonal score after 150 steps"))
    assert "lowest resize-nearest 8.6 dB; real audio" in after and "sinc" not in after.split(";")[0]
    quiet = next(line for line in lines if line.startswith("Far too quiet after 150 steps"))
    assert "sinc (-30 dB overall, -100 dB above 1 kHz; tonal score 0.3 dB)" in quiet
    init = next(line for line in lines if line.startswith("Tonal score at initialisation"))
    assert "lowest sinc 1.0 dB, resize-nearest 1.2 dB" in init  # loud enough at step 0: ranked
    assert not any(line.startswith("Far too quiet at initialisation") for line in lines)


def test_each_per_layer_panel_greys_by_its_own_stage(comp, tmp_path, monkeypatch):
    from audioup.compare import plots

    assert quiet_kinds(comp, 0) == set() and quiet_kinds(comp, 150) == {"sinc"}
    assert quiet_kinds(comp) == {"sinc"}  # default: the last evaluated stage
    figures = []
    monkeypatch.setattr(plots, "save_figure", lambda fig, path, **kw: figures.append(fig))
    plot_per_layer(comp, tmp_path / "per_layer.png")
    from matplotlib.colors import to_rgba

    grey = to_rgba(QUIET_COLOR)
    init_panel, trained_panel = figures[0].axes[:2]
    sinc_bar = 2  # one layer, bars in kind order
    assert init_panel.patches[sinc_bar].get_facecolor() != grey
    assert trained_panel.patches[sinc_bar].get_facecolor() == grey
    assert trained_panel.patches[0].get_facecolor() != grey
