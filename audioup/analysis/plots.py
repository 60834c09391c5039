"""Figures for the diagnostics (matplotlib, imported when a figure is drawn).

Each ``plot_*`` takes a result object and an optional ``path``: with a path
the figure is written there (PNG by its suffix) and closed, and the path is
returned; without one the ``matplotlib.figure.Figure`` is returned. Figures
are built with the object API, so no pyplot state or backend is touched.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple, Union

import numpy as np

from ..audio.db import relative_db
from ..audio.fs import save_figure
from .attribution import Attribution
from .checkerboard import CheckerboardScore
from .frequency import FrequencyResponse
from .gradients import GradientSpectrum
from .matrix import LayerMatrix
from .overlap import OverlapPattern

PathLike = Union[str, Path]


def _figure(width: float, height: float):
    from matplotlib.figure import Figure

    return Figure(figsize=(width, height), layout="constrained")


def _finish(fig, path: Optional[PathLike]):
    if path is None:
        return fig
    path = Path(path)
    save_figure(fig, path, dpi=110)
    return path


def _stack_levels(layers: List[Tuple[int, int]], n_inputs: int):
    """Cell counts, widths and offsets of each level of a stack, in final-output cell units."""
    counts = [np.ones(n_inputs)]
    for k, s in layers:
        prev = counts[-1]
        out = np.zeros((len(prev) - 1) * s + k)
        for m, c in enumerate(prev):
            out[m * s:m * s + k] += c
        counts.append(out)
    widths, offsets = [1.0], [0.0]
    for k, s in reversed(layers):
        widths.insert(0, widths[0] * s)
        offsets.insert(0, offsets[0] + (k - s) / 2 * widths[1])
    return counts, widths, offsets


def plot_overlap(pattern: OverlapPattern, path: Optional[PathLike] = None, n_inputs: int = 6):
    """The uneven-overlap picture (Odena et al. 2016) in 1D, and the coverage over one period.

    Each input sample paints its kernel footprint on the next row; output cells
    are shaded by how many taps land on them (darker = more). Patterns without
    known ``(kernel, stride)`` layers (measured on a resize or subpixel layer)
    get the coverage bars only.
    """
    from matplotlib.patches import Polygon, Rectangle

    drawn = bool(pattern.layers)
    fig = _figure(9, 4.8 if drawn else 2.6)
    axes = fig.subplots(2, 1, height_ratios=[3, 1]) if drawn else [None, fig.subplots(1, 1)]
    if drawn:
        ax = axes[0]
        counts, widths, offsets = _stack_levels(pattern.layers, n_inputs)
        n_levels = len(counts)
        cmap = _gray_cmap()
        for level, (cnt, w, off) in enumerate(zip(counts, widths, offsets)):
            y = (n_levels - 1 - level) * 2.0
            top = max(cnt.max(), 1)
            for i, c in enumerate(cnt):
                x0 = off + i * w
                face = "white" if level == 0 else cmap(c / top)
                ax.add_patch(Rectangle((x0, y), w, 0.8, facecolor=face, edgecolor="black", lw=0.6))
                if level > 0 and w >= 0.6:
                    ax.text(x0 + w / 2, y + 0.4, f"{c:g}", ha="center", va="center", fontsize=8,
                            color="white" if c / top > 0.55 else "black")
            if level + 1 < n_levels:
                k, s = pattern.layers[level]
                w_next, off_next = widths[level + 1], offsets[level + 1]
                for i in range(len(cnt)):
                    a0, a1 = off + i * w, off + (i + 1) * w
                    b0 = off_next + i * s * w_next
                    b1 = b0 + k * w_next
                    color = f"C{i % 10}"
                    ax.add_patch(Polygon([(a0, y), (a1, y), (b1, y - 1.2), (b0, y - 1.2)], closed=True,
                                         facecolor=color, alpha=0.18, edgecolor=color, lw=0.8))
        width = offsets[-1] + len(counts[-1]) * widths[-1]
        ax.set_xlim(min(offsets) - 0.5, width + 0.5)
        ax.set_ylim(-0.3, (n_levels - 1) * 2.0 + 1.1)
        ax.set_yticks([(n_levels - 1 - lv) * 2.0 + 0.4 for lv in range(n_levels)],
                      ["input"] + (pattern.names or [f"k={k}, s={s}" for k, s in pattern.layers]))
        ax.set_xticks([])
        for side in ("top", "right", "bottom"):
            ax.spines[side].set_visible(False)
        if pattern.names:
            ax.set_title("Overlap: " + " then ".join(pattern.names))
        else:
            desc = " then ".join(f"kernel {k}, stride {s}" for k, s in pattern.layers)
            ax.set_title(f"Overlap of a transposed convolution: {desc}")
    ax = axes[1]
    cov = np.asarray(pattern.coverage)
    colors = [_gray_cmap()(c / max(cov.max(), 1e-12)) for c in cov]
    ax.bar(np.arange(len(cov)), cov, color=colors, edgecolor="black", lw=0.6)
    ax.set_xlabel("output phase (one period)")
    ax.set_ylabel("taps")
    verdict = "even" if pattern.even else f"uneven, max/min {pattern.ratio:.2f}"
    ax.set_title(f"coverage per output position over one period ({verdict})", fontsize=10)
    ax.set_xticks(np.arange(len(cov)))
    return _finish(fig, path)


def _gray_cmap():
    from matplotlib import colormaps

    base = colormaps["Greys"]
    return lambda v: base(0.12 + 0.8 * float(v))


def plot_checkerboard(score: CheckerboardScore, path: Optional[PathLike] = None, max_channels: int = 8,
                      periods: int = 4):
    """A few periods of each channel's constant-input response (relative to its mean), and per-channel scores."""
    fig = _figure(9, 3.4)
    ax, bx = fig.subplots(1, 2, width_ratios=[2, 1])
    profile = np.asarray(score.profile)
    mean = np.asarray(score.mean)
    n = np.arange(periods * score.factor)
    for c in range(min(max_channels, len(profile))):
        scale = abs(mean[c]) if abs(mean[c]) > 0 else 1.0
        rel = (profile[c] - mean[c]) / scale
        ax.step(n, np.tile(rel, periods), where="mid", lw=1.2, label=f"ch {c}")
    ax.axhline(0, color="black", lw=0.6)
    for p in range(1, periods):
        ax.axvline(p * score.factor - 0.5, color="gray", lw=0.5, ls=":")
    ax.set_xlabel("output sample")
    ax.set_ylabel("(y - mean) / |mean|")
    value = "flat to float64 precision" if score.checkerboard_db <= -299 else f"{score.checkerboard_db:.1f} dB"
    ax.set_title(f"constant input: checkerboard {value}")
    if len(profile) <= max_channels:
        ax.legend(fontsize=7, ncol=2)
    db = np.maximum(np.asarray(score.per_channel_db), -120.0)
    base = -125.0
    bx.bar(np.arange(len(db)), db - base, bottom=base, color=["C3" if v > -60 else "C2" for v in db])
    bx.axhline(-60, color="black", lw=0.8, ls="--")
    bx.set_ylim(base, max(10.0, float(db.max()) + 5))
    bx.set_xlabel("output channel")
    bx.set_ylabel("dB (floored at -120)")
    bx.set_title("per channel", fontsize=10)
    return _finish(fig, path)


def plot_matrix(matrix: LayerMatrix, path: Optional[PathLike] = None, title: str = ""):
    """The layer's matrix (output rows x input columns) and each row's sum, coloured by output phase."""
    m = matrix.matrix.numpy()
    fig = _figure(9, 6.5)
    ax, bx = fig.subplots(1, 2, width_ratios=[2.6, 1.4], sharey=True)
    lim = max(float(np.abs(m).max()), 1e-12)
    image = ax.imshow(m, cmap="RdBu_r", vmin=-lim, vmax=lim, aspect="auto", interpolation="nearest")
    fig.colorbar(image, ax=ax, location="bottom", shrink=0.6, label="weight")
    ax.set_xlabel("input sample" + (f" (channel {matrix.in_channel})" if matrix.in_channel is not None else ""))
    ax.set_ylabel("output sample" + (f" (channel {matrix.out_channel})" if matrix.out_channel is not None else ""))
    phase_sums = matrix.phase_row_sums()
    sums = ", ".join(f"{v:.3g}" for v in phase_sums)
    equal = max(phase_sums) - min(phase_sums) <= 1e-6 * max(1e-12, max(abs(v) for v in phase_sums))
    ax.set_title(title or f"layer as a matrix, factor {matrix.factor}\nrow sums by phase: {sums}", fontsize=10)
    rows = m.sum(axis=1)
    phase = np.arange(len(rows)) % matrix.factor
    bx.barh(np.arange(len(rows)), rows, color=[f"C{p % 10}" for p in phase], height=0.75)
    bx.axvline(0, color="black", lw=0.6)
    bx.set_xlabel("row sum = gain for a constant")
    bx.set_title("equal by phase: no checkerboard" if equal else "unequal by phase: checkerboard", fontsize=9)
    return _finish(fig, path)


def plot_frequency(response: FrequencyResponse, path: Optional[PathLike] = None, title: str = ""):
    """Noise gain with the predicted lines and the input's Nyquist, and the swept-sine spectrogram."""
    fig = _figure(9, 6.5)
    ax, bx = fig.subplots(2, 1)
    sr = response.sample_rate
    ax.plot(response.freqs, response.gain_db, lw=0.7, color="C0")
    ax.axvspan(sr / 2, response.freqs[-1], color="C1", alpha=0.08, label="images (above input Nyquist)")
    for k in range(1, response.factor // 2 + 1):
        ax.axvline(k * sr, color="C3", lw=0.8, ls="--", label="multiples of input rate" if k == 1 else None)
    finite = response.gain_db[np.isfinite(response.gain_db)]
    ax.set_ylim(max(float(np.percentile(finite, 1)) - 10, -120), float(finite.max()) + 5)
    ax.set_xlim(0, response.freqs[-1])
    ax.set_xlabel("frequency")
    ax.set_ylabel("gain (dB)")
    ax.legend(fontsize=8, loc="lower left")
    ax.set_title(title or f"white noise + DC: images {response.image_db:.1f} dB, "
                 f"pass-band tilt {response.passband_tilt_db:.1f} dB")
    t, f, s = response.sweep
    mesh = bx.pcolormesh(t, f, s, shading="auto", cmap="magma", vmin=-90, vmax=0)
    fig.colorbar(mesh, ax=bx, label="dB")
    bx.axhline(sr / 2, color="white", lw=0.8, ls=":")
    bx.set_xlabel("time")
    bx.set_ylabel("frequency")
    bx.set_title(f"swept sine 0 to input Nyquist: images {response.sweep_image_db:.1f} dB", fontsize=10)
    return _finish(fig, path)


def plot_attribution(attribution: Attribution, path: Optional[PathLike] = None):
    """Each upsampler's output spectrum with its predicted lines, and the final output with every layer's lines."""
    layers = attribution.layers
    fig = _figure(9, 2.2 * (len(layers) + 1))
    axes = np.atleast_1d(fig.subplots(len(layers) + 1, 1))
    for i, (ax, t) in enumerate(zip(axes, layers)):
        db = relative_db(t.power)
        ax.plot(t.freqs, db, lw=0.6, color="C0")
        for line in t.lines:
            ax.axvline(line.freq, color=f"C{(i + 1) % 10}", lw=1.0, ls="--")
        ax.set_xlim(0, t.freqs[-1])
        ax.set_ylabel("dB")
        ax.set_title(f"after {t.name} (x{t.factor}, in {t.in_rate:g} -> out {t.out_rate:g}): "
                     f"lines {t.prominence_db:+.1f} dB over floor, {t.tone_db:.1f} dB of power", fontsize=9)
    ax = axes[-1]
    p = attribution.output_power
    ax.plot(attribution.output_freqs, relative_db(p), lw=0.6, color="C0")
    for i, t in enumerate(layers):
        for j, line in enumerate(t.output_lines):
            ax.axvline(line.freq, color=f"C{(i + 1) % 10}", lw=0.7, ls="--", alpha=0.7,
                       label=f"{t.name}: {t.output_prominence_db:+.1f} dB" if j == 0 else None)
    ax.set_xlim(0, attribution.output_freqs[-1])
    ax.set_xlabel("frequency")
    ax.set_ylabel("dB")
    ax.set_title("output waveform, lines each layer owns", fontsize=9)
    if any(t.output_lines for t in layers):
        ax.legend(fontsize=7, loc="upper right")
    return _finish(fig, path)


def plot_gradient_spectrum(spectrum: GradientSpectrum, path: Optional[PathLike] = None, title: str = "",
                           max_marked: int = 5):
    """Spectrum of d(output)/d(input), the predicted lines of the first strides marked, and each stride's prominence."""
    strides = spectrum.strides
    fig = _figure(9, 5.6 if strides else 3.4)
    ax, bx = fig.subplots(2, 1, height_ratios=[2, 1]) if strides else (fig.subplots(1, 1), None)
    ax.plot(spectrum.freqs, spectrum.power_db, lw=0.6, color="C0")
    step = spectrum.freqs[1] - spectrum.freqs[0]
    for i, s in enumerate(strides[:max_marked]):
        lines = spectrum.lines[s]
        idx = [min(int(round(line.freq / step)), len(spectrum.freqs) - 1) for line in lines]
        ax.plot([line.freq for line in lines], spectrum.power_db[idx] + 2 + 2 * i, "v", ms=5,
                color=f"C{(i + 1) % 10}", label=f"k x sr/{s}")
    ax.set_xlim(0, spectrum.freqs[-1])
    ax.set_xlabel("frequency")
    ax.set_ylabel("dB")
    ax.set_title(title or "gradient of the model's output w.r.t. a noise input")
    if strides:
        ax.legend(fontsize=8, loc="lower right", ncol=min(len(strides[:max_marked]), 5))
        bx.bar(np.arange(len(strides)), [spectrum.prominence_db[s] for s in strides],
               color=[f"C{(i + 1) % 10}" if i < max_marked else "gray" for i in range(len(strides))])
        bx.set_xticks(np.arange(len(strides)), [f"/{s}" for s in strides], fontsize=7 if len(strides) > 10 else 9)
        bx.axhline(0, color="black", lw=0.6)
        bx.set_xlim(-0.75, max(len(strides), 6) - 0.25)
        bx.set_xlabel("lines at multiples of sample_rate / stride")
        bx.set_ylabel("mean dB over floor")
    return _finish(fig, path)


__all__ = ["plot_overlap", "plot_checkerboard", "plot_matrix", "plot_frequency", "plot_attribution",
           "plot_gradient_spectrum"]
