"""One figure per measured file: the stationary spectrum with its lines, above a spectrogram.

matplotlib is imported when a figure is drawn, so that importing audioup.metrics stays light.
"""
from __future__ import annotations

from typing import List, Optional

import numpy as np

from ..audio.db import power_db
from ..audio.fs import save_figure
from .stationary import StationaryResult
from .tonal import TonalScore


def plot_tonal(result: StationaryResult, score: Optional[TonalScore] = None,
               detected: Optional[List[dict]] = None, path=None, title: str = "",
               label_tones: int = 8):
    """Draw the stationary spectrum, predicted lines and detected tones; save a PNG.

    Top: the stationary (median over frames) spectrum in dB; predicted lines as
    thin vertical marks coloured by layer, the ``label_tones`` most prominent
    labelled with their prominence; blind detections as red triangles labelled
    with frequency and prominence. Bottom: the spectrogram (if the result kept
    one), on the same frequency axis turned sideways (time on x).

    Args:
        result: from :class:`StationarySpectrum` (``spectrogram_pool > 0`` for the bottom panel).
        score: tonal score of the same spectrum (predicted lines).
        detected: from :func:`detect_lines`.
        path: where to save the PNG (``None``: only return the figure).
        title: figure title (e.g. the file name).

    Returns:
        The matplotlib figure (closed if ``path`` was given).
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    db = result.power_db()
    db = db - np.nanmax(db)
    has_spec = result.spectrogram is not None and len(result.spectrogram) > 1
    fig, axes = plt.subplots(2 if has_spec else 1, 1, figsize=(12, 8 if has_spec else 4.5),
                             squeeze=False, gridspec_kw={"height_ratios": [3, 2]} if has_spec else None)
    ax = axes[0, 0]
    khz = result.freqs / 1000.0
    ax.plot(khz, db, color="0.2", lw=0.7, label="stationary spectrum (median over frames)")
    lo = max(np.nanpercentile(db, 1) - 5, -140)
    ax.set_ylim(lo, 8)
    ax.set_xlim(0, khz[-1])
    if score is not None and score.tones:
        _draw_predicted(ax, result.freqs, db, lo, score, detected, label_tones, plt.get_cmap("tab10"))
    _draw_detected(ax, result.freqs, db, detected or [], label_tones)
    head = title
    if score is not None:
        head += f"   tonal score {score.tonal_score_db:.1f} dB (max {score.max_db:.1f} dB, hop {score.hop})"
    ax.set_title(head.strip(), fontsize=10)
    ax.set_xlabel("frequency (kHz)")
    ax.set_ylabel("dB re peak")
    ax.legend(loc="upper right", fontsize=7, framealpha=0.85)
    ax.grid(alpha=0.3)
    if has_spec:
        _draw_spectrogram(fig, axes[1, 0], result)
    fig.tight_layout()
    if path is not None:
        save_figure(fig, path, dpi=110)
        plt.close(fig)
    return fig


def _draw_predicted(ax, freqs, db, lo, score: TonalScore, detected, label_tones: int, colors) -> None:
    """Predicted lines as short marks per layer; the strongest labelled with their prominence."""
    n_layers = max(t["layer"] for t in score.tones)
    for layer in range(1, n_layers + 1):
        fs = [t["freq_hz"] / 1000 for t in score.tones if t["layer"] == layer]
        info = score.per_layer.get(f"layer{layer}", {})
        lab = (f"predicted, layer {layer} (x{info.get('factor')}, "
               f"{info.get('input_rate_hz', 0):.0f} Hz): mean {info.get('mean_db') or 0:.1f} dB")
        ax.vlines(fs, lo, lo + 0.06 * (8 - lo), colors=colors(layer - 1), lw=1.2, label=lab)
    seen = [d["freq_hz"] for d in (detected or [])]
    bin_hz = freqs[1] - freqs[0]
    for t in score.strongest(label_tones):
        if t["prominence_db"] < 3:
            break
        if any(abs(t["freq_hz"] - f) < 3 * bin_hz for f in seen):
            continue  # labelled by _draw_detected
        b = int(round(t["freq_hz"] / bin_hz))
        ax.annotate(f"{t['prominence_db']:.0f}", (t["freq_hz"] / 1000, db[b]),
                    xytext=(0, 4), textcoords="offset points", ha="center", fontsize=7,
                    color=colors(t["layer"] - 1))


def _draw_detected(ax, freqs, db, detected: List[dict], label_tones: int) -> None:
    """Blind detections as red triangles; the most prominent with room around them labelled."""
    labelled: List[float] = []
    span_khz = freqs[-1] / 1000.0
    for d in detected:  # most prominent first
        b = int(round(d["freq_hz"] / (freqs[1] - freqs[0])))
        ax.plot(d["freq_hz"] / 1000, db[b] + 2.5, "v", color="red", ms=6)
        x = d["freq_hz"] / 1000
        if len(labelled) < label_tones and all(abs(x - o) > 0.035 * span_khz for o in labelled):
            labelled.append(x)
            ax.annotate(f"{d['freq_hz']:.0f} Hz\n+{d['prominence_db']:.0f} dB", (x, db[b] + 4),
                        ha="center", va="bottom", fontsize=7, color="red")
    if detected:
        ax.plot([], [], "v", color="red", label=f"detected lines ({len(detected)})")


def _draw_spectrogram(fig, ax, result: StationaryResult) -> None:
    """The spectrogram in dB re its peak, time on x, on the spectrum's frequency axis."""
    khz_top = result.freqs[-1] / 1000.0
    spec = power_db(result.spectrogram.T)
    spec -= spec.max()
    vmin = min(-60.0, max(-150.0, float(np.percentile(spec, 5))))  # span the floor to the top
    t_end = len(result.spectrogram) * result.frame_seconds
    im = ax.imshow(spec, origin="lower", aspect="auto", cmap="magma", vmin=vmin, vmax=0,
                   extent=[0, t_end, 0, khz_top], interpolation="nearest")
    ax.set_xlabel("time (s)")
    ax.set_ylabel("frequency (kHz)")
    fig.colorbar(im, ax=ax, pad=0.01, label="dB re peak")
