"""The comparison's figures: stationary spectra per kind and the per-layer tonal breakdown.

matplotlib (~1 s with pyplot) is imported when a figure is drawn, not with audioup.compare.
"""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import numpy as np

from ..audio.fs import save_figure
from ..metrics import predicted_tones
from .evaluate import too_quiet
from .stages import is_trained, stage_words

KIND_COLORS = {"transposed": "tab:red", "resize-nearest": "tab:blue", "resize-linear": "tab:cyan",
               "subpixel-icnr": "tab:purple", "sinc": "tab:green"}


def _color(kind: str, i: int):
    import matplotlib.pyplot as plt

    return KIND_COLORS.get(kind, plt.get_cmap("tab10")(i % 10))


QUIET_COLOR = "0.7"
INSET_KHZ = 2.0


def quiet_kinds(comp, step: Optional[int] = None) -> set:
    """Kinds too quiet (:func:`~.evaluate.too_quiet`) at ``step`` to be read as equals; by
    default at the last evaluated stage."""
    if step is None:
        done = [s for s in comp.stages if comp.results.get(s)]
        step = done[-1] if done else None
    rows = comp.results.get(step, {}) if step is not None else {}
    return {k for k, r in rows.items() if "error" not in r and too_quiet(r, comp.reference)}


def _spectrum(record: Optional[dict]):
    spec = (record or {}).get("spectrum")
    if not spec:
        return None, None
    db = np.asarray(spec["db"], dtype=float)
    return np.arange(len(db)) * spec["sample_rate"] / spec["n_fft"] / 1000.0, db


def plot_spectra(comp, path) -> Optional[Path]:
    """One panel per kind: its stationary spectrum at each stage over the real audio's.

    The spectra are in dB relative to the real audio's peak, so levels compare across
    panels; the predicted line frequencies are ticks along the bottom, taller for
    later layers. Returns the PNG path (``None`` when there is nothing to draw).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    khz, ref_db = _spectrum(comp.reference)
    if khz is None:
        return None
    top = float(np.nanmax(ref_db))
    kinds = comp.kinds
    fig, axes = plt.subplots(len(kinds), 1, figsize=(11, 1.9 * len(kinds) + 0.8), sharex=True,
                             squeeze=False)
    factors = comp.reference.get("factors")
    tones = predicted_tones(comp.info.get("sample_rate") or 22050, factors=factors) if factors else []
    floor = _floor_db(comp, ref_db, top)
    quiet = quiet_kinds(comp)
    for i, kind in enumerate(kinds):
        _kind_panel(axes[i, 0], comp, kind, (khz, ref_db), top, floor, tones, quiet=kind in quiet,
                    color=QUIET_COLOR if kind in quiet else _color(kind, i))
    axes[-1, 0].set_xlabel("frequency (kHz)")
    axes[-1, 0].set_xlim(0, khz[-1])
    fig.suptitle(f"Stationary spectra of the vocoded test audio (dB re the real audio's peak); "
                 f"ticks: predicted lines of {len(factors or [])} layers", fontsize=10)
    fig.tight_layout()
    path = Path(path)
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path


def _floor_db(comp, ref_db: np.ndarray, top: float) -> float:
    """Bottom of every panel: 5 dB under the lowest 2nd percentile of any spectrum, within -200..-80 dB."""
    lows = [np.percentile(db, 2) - top for st in comp.stages for k in comp.kinds
            for _, db in [_spectrum(comp.results.get(st, {}).get(k))] if db is not None]
    return float(np.clip(min(lows + [np.percentile(ref_db, 2) - top]) - 5, -200, -80))


def _kind_panel(ax, comp, kind: str, real, top: float, floor: float, tones, quiet: bool, color) -> None:
    """One kind's panel of :func:`plot_spectra`: the real audio, each stage, a 0-2 kHz inset, line ticks."""
    khz, ref_db = real
    inset = ax.inset_axes([0.62, 0.08, 0.22, 0.55])  # 0-2 kHz: where the first lines sit
    for a in (ax, inset):
        a.plot(khz, ref_db - top, color="0.45" if quiet else "0.6", lw=0.8, label="real audio")
    single = len(comp.stages) == 1
    for step in comp.stages:
        f, db = _spectrum(comp.results.get(step, {}).get(kind))
        if f is None:
            continue
        trained = is_trained(step)
        for a in (ax, inset):
            a.plot(f, db - top, color=color, lw=0.8 if trained else 0.6,
                   alpha=1.0 if trained or single else 0.45, ls="-" if trained or single else "--",
                   label=stage_words(step))
    inset.set_xlim(0, INSET_KHZ)
    inset.set_ylim(floor, 10)
    inset.tick_params(labelsize=6)
    inset.set_title(f"0-{INSET_KHZ:g} kHz", fontsize=7, pad=2)
    for t in tones:  # taller ticks for later layers (sparser, stronger lines)
        height = (0.04 + 0.05 * t.layer) * (10 - floor)
        ax.plot([t.freq_hz / 1000] * 2, [floor, floor + height], color="k", lw=0.5, alpha=0.6)
    ax.set_ylim(floor, 10)
    ax.set_ylabel("dB")
    ax.grid(alpha=0.25)
    label = kind + ("  (> 20 dB below the real audio at the last stage, broadband or above 1 kHz: greyed)"
                    if quiet else "")
    ax.text(0.006, 0.93, label, transform=ax.transAxes, fontsize=10, fontweight="bold",
            va="top", color=color, zorder=5,
            bbox=dict(facecolor="white", alpha=0.85, edgecolor="none", pad=1.5))
    ax.legend(loc="upper right", fontsize=7, ncol=4, framealpha=0.8)


def plot_per_layer(comp, path) -> Optional[Path]:
    """Grouped bars: each layer's mean line prominence for every kind, one panel per stage."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    layers = list(comp.reference.get("per_layer", {}))
    if not layers:
        return None
    stages = comp.stages
    fig, axes = plt.subplots(1, len(stages), figsize=(5.5 * len(stages) + 1, 4.6), sharey=True,
                             squeeze=False)
    width = 0.8 / max(len(comp.kinds), 1)
    top = 1.0
    for s, step in enumerate(stages):
        ax = axes[0, s]
        quiet = quiet_kinds(comp, step)  # each panel by its own stage's levels
        for i, kind in enumerate(comp.kinds):
            rec = comp.results.get(step, {}).get(kind, {})
            # a generator with another schedule (vocos: one iSTFT stage) has other layers: no bars
            same = [(rec.get("per_layer", {}).get(layer) or {}).get("factor")
                    == comp.reference["per_layer"][layer]["factor"] for layer in layers]
            values = [(rec.get("per_layer", {}).get(layer, {}) or {}).get("mean_db") if ok else None
                      for layer, ok in zip(layers, same)]
            heights = [v if v is not None else 0.0 for v in values]
            top = max(top, *heights)
            x = np.arange(len(layers)) + (i - (len(comp.kinds) - 1) / 2) * width
            ax.bar(x, heights, width, color=QUIET_COLOR if kind in quiet else _color(kind, i),
                   label=kind + (" (too quiet)" if kind in quiet else "")
                   + ("" if all(same) or not rec else " (other layers: see the table)"),
                   hatch="//" if kind in quiet else None)
        ref = [comp.reference["per_layer"][layer]["mean_db"] or 0.0 for layer in layers]
        ax.scatter(np.arange(len(layers)), ref, marker="_", s=900, color="0.35", zorder=3,
                   label="real audio")
        labels = []
        for layer in layers:
            info = comp.reference["per_layer"][layer]
            labels.append(f"{layer.replace('layer', 'layer ')}: ×{info['factor']}\n"
                          f"lines every {info['input_rate_hz']:.0f} Hz")
        ax.set_xticks(np.arange(len(layers)), labels, fontsize=8)
        ax.set_title(stage_words(step), fontsize=10)
        ax.grid(axis="y", alpha=0.3)
    axes[0, 0].set_ylabel("mean line prominence (dB)")
    axes[0, 0].set_ylim(0, top * 1.1 + 1)
    from matplotlib.patches import Patch

    handles = [Patch(color=_color(kind, i), label=kind) for i, kind in enumerate(comp.kinds)]
    handles.append(Patch(facecolor=QUIET_COLOR, hatch="//", label="too quiet at that stage"))
    handles += axes[0, 0].get_legend_handles_labels()[0]  # the real audio's marks
    fig.legend(handles=handles, loc="lower center", ncol=len(handles), fontsize=8, frameon=False)
    fig.tight_layout(rect=(0, 0.07, 1, 1))
    path = Path(path)
    save_figure(fig, path, dpi=100)
    plt.close(fig)
    return path
