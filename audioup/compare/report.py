"""The comparison report: Markdown tables, figures and the words around them.

:func:`table` gives the rows of one stage as strings; :func:`markdown_table` and
:func:`text_table` lay them out for the report and the console; :func:`write_report`
writes ``report.md`` and its PNGs (``spectra.png``, ``per_layer.png``) into the
comparison folder.
"""
from __future__ import annotations

import math
from pathlib import Path
from typing import List, Optional, Sequence

from ..audio.fs import atomic_write
from .evaluate import QUIET_DB, band_level_db, too_quiet
from .plots import plot_per_layer, plot_spectra
from .stages import is_budget, stage_title, stage_words

COLUMNS = ("upsampler", "params", "tonal score (dB) ↓", "strongest line (dB)", "level (dB)",
           "MR-STFT ↓", "mel L1 ↓", "PESQ ↑", "periodicity ↓", "V/UV F1 ↑", "speed (× real time) ↑")
LOADED_SPREAD = 1.5  # fastest / slowest timed round above this: the machine was busy, speed left out

INTRO = """\
Upsampling layers can add **tonal artifacts**: a layer that raises the rate by a factor
*s* repeats its kernel every *s* output samples, and uneven kernel overlap (transposed
convolutions) or untied sub-pixel phases turn that periodicity into spectral lines at
multiples of the layer's input rate, *sample rate / product of the later factors*
(Pons et al., ICASSP 2021, "Upsampling artifacts in neural audio synthesis"). The lines
are there before training and training must learn to cancel them. This report trains the
same vocoder with each upsampler kind and measures the lines (tonal score) beside the
usual quality metrics."""

METRICS = """\
- **tonal score**: mean prominence (dB over the local spectral floor, negatives counted as 0)
  of the stationary spectrum (median over frames) at every frequency where the upsampling
  layers predict a line; real speech scores about 0-3 dB. **strongest line**: the largest
  prominence. Both reference-free (`audioup.metrics.tonal_score`) and blind to loudness:
  read them together with **level**, the RMS level of the output relative to the real audio,
  both with their mean (DC) removed (an almost silent output can score low or high without
  meaning much; kinds more than 20 dB below the real audio, broadband or above 1 kHz, are
  greyed in the figures, named apart in "In short" and flagged in the verdicts).
- **MR-STFT**: multi-resolution STFT distance to the real audio (spectral convergence + log
  magnitude, 3 resolutions); **mel L1**: mean absolute log-mel difference (HiFi-GAN's
  validation error); **PESQ**: wide-band PESQ at 16 kHz (-0.5 to 4.64), when `pesq` is installed;
  **periodicity** (RMSE) and **V/UV F1** (voiced/unvoiced agreement) from torchcrepe as CARGAN
  defines them, when `torchcrepe` is installed. Lower is better for the distances and the
  periodicity error, higher for PESQ and F1. Every score is computed on the WAV files as
  written (32-bit float), so re-measuring a saved file gives the same number.
- **params**: generator parameters as trained (weight norm included). **speed**: seconds of
  audio generated per second of compute, {speed_where}, all kinds timed side by side: the best
  of 5 rounds, with the slowest in brackets; left out when they differ by more than 1.5× (a
  busy machine).
- Test audio is vocoded by analysis-synthesis: real audio -> mel -> generator."""

LIMITS = """\
These numbers come from the test set named above, with the number of training steps named
above; quality metrics of briefly trained vocoders say little about the quality the same
model reaches after full training (HiFi-GAN V1 trains for 2.5M steps). The tonal score and
the figures at initialisation show the structure of each layer (where its lines are and how
strong they start); whether training removes them is shown only for the steps trained."""


def fmt(value, spec: str = ".2f", missing: str = "n/a") -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return missing
    return format(value, spec)


def fmt_params(n: Optional[int]) -> str:
    if n is None:
        return "n/a"
    return f"{n / 1e6:.2f}M" if n >= 1e6 else f"{n / 1e3:.1f}k"


def fmt_speed(x: Optional[float], rounds: Optional[Sequence[float]] = None) -> str:
    """``290×``, ``4.2×``, ``0.85×`` (two significant digits at least); with ``rounds``,
    ``290× (250×)`` with the slowest round, or ``busy (250-400×)`` when they differ by > 1.5×."""
    def one(v):
        return f"{v:.0f}×" if v >= 10 else f"{v:.2g}×"

    if x is None:
        return "n/a"
    if not rounds:
        return one(x)
    low, high = min(rounds), max(rounds)
    if high > LOADED_SPREAD * low:
        return f"busy ({one(low)[:-1]}-{one(high)})"
    return f"{one(x)} ({one(low)})"


def table(comp, step: int, reference: bool = True) -> List[List[str]]:
    """Rows of one stage (one per kind; the real audio first if ``reference``)."""
    rows = []
    if reference and comp.reference:
        ref = comp.reference
        rows.append(["real audio (test set)", "-", fmt(ref["tonal_score_db"], ".1f"),
                     fmt(ref["tonal_max_db"], ".1f"), "0", "-", "-", "-", "-", "-", "-"])
    for rec in comp.rows(step):
        if "error" in rec:
            rows.append([rec["kind"], "failed: " + rec["error"].splitlines()[0]] + [""] * 9)
            continue
        speed = fmt_speed(comp.speed.get(rec["kind"]), getattr(comp, "speed_rounds", {}).get(rec["kind"]))
        name = f"{rec['kind']} ({rec.get('step')} steps)" if is_budget(step) else rec["kind"]
        rows.append([name, fmt_params(rec.get("params")), fmt(rec.get("tonal_score_db"), ".1f"),
                     fmt(rec.get("tonal_max_db"), ".1f"), fmt(rec.get("level_db"), "+.0f"),
                     fmt(rec.get("mrstft"), ".2f"), fmt(rec.get("mel_l1"), ".2f"),
                     fmt(rec.get("pesq_wb"), ".2f"), fmt(rec.get("periodicity_rmse"), ".3f"),
                     fmt(rec.get("vuv_f1"), ".2f"), speed])
    return rows


def markdown_table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> str:
    align = ["---"] + ["--:"] * (len(header) - 1)
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join(align) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def text_table(rows: Sequence[Sequence[str]], header: Sequence[str] = COLUMNS) -> str:
    """Plain aligned columns for a terminal (arrows dropped from the header)."""
    header = [h.replace(" ↓", "").replace(" ↑", "") for h in header]
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    def line(r):
        return "  ".join(str(c).ljust(w) if i == 0 else str(c).rjust(w)
                         for i, (c, w) in enumerate(zip(r, widths)))
    return "\n".join([line(header), "  ".join("-" * w for w in widths)] + [line(r) for r in rows])


def shown_path(path) -> str:
    """``path`` relative to the current folder when it lies inside it (reports stay portable)."""
    try:
        return str(Path(path).resolve().relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def setup_text(comp) -> str:
    info, ref = comp.info, comp.reference
    factors = "×".join(str(f) for f in info.get("factors") or [])
    n, secs = len(info.get("test_files", [])), info.get("test_seconds", 0.0)
    trained = [s for s in comp.stages if s]
    lines = [
        f"- Recipe: `{shown_path(comp.config)}`; generator `{info.get('generator')}` preset "
        f"`{info.get('preset')}`, upsampling {factors} at {info.get('sample_rate')} Hz; "
        f"kinds: {', '.join(comp.kinds)}.",
        *[f"- `{kind}`: {what}; the recipe's data, mel, discriminators, losses and training settings "
          "(its lines are predicted at multiples of sample rate / the iSTFT hop)."
          for kind, what in (info.get("generator_kinds") or {}).items()],
        f"- Test set: {n} file(s), {secs:.1f} s: " + ", ".join(
            f"`{Path(p).name}`" for p in info.get("test_files", [])[:6]) + (" ..." if n > 6 else ""),
    ]
    if trained and is_budget(trained[-1]):
        clock = ("this process's CPU time over its threads (`train.clock=cpu`: other load on the machine "
                 "does not count)" if info.get("clock") == "cpu" else "wall time")
        lines.append(f"- Training: {trained[-1][:-3]} minutes of training time per kind (`train.max_minutes`, "
                     f"in {clock}; steps only, validation and saving left out) with the real training loop, on "
                     f"{info.get('threads')} thread(s), batch {info.get('batch_size')} x "
                     f"{info.get('segment_length')} samples, seed {info.get('seed')}; each kind stops at "
                     "the step its speed takes it to (every kind starts from the weights evaluated at step 0).")
    elif trained:
        lines.append(f"- Training: {trained[-1]} steps per kind with the real training loop, batch "
                     f"{info.get('batch_size')} x {info.get('segment_length')} samples, seed "
                     f"{info.get('seed')} (every kind starts from the weights evaluated at step 0).")
    lines.append(f"- Evaluated on {info.get('device')} with {info.get('threads')} thread(s), "
                 f"torch {info.get('torch')}. Real audio's own tonal score: "
                 f"{fmt(ref.get('tonal_score_db'), '.1f')} dB.")
    return "\n".join(lines)


def summary(comp) -> List[str]:
    """A few plain facts read off the tables (largest and smallest tonal scores, changes)."""
    def ok(step):
        return [r for r in comp.rows(step) if "error" not in r and r.get("tonal_score_db") is not None]

    lines, ref = [], comp.reference.get("tonal_score_db")
    for step in comp.stages:
        where = stage_words(step)
        quiet = [r for r in ok(step) if too_quiet(r, comp.reference)]
        rows = sorted((r for r in ok(step) if r not in quiet), key=lambda r: r["tonal_score_db"])
        if rows:  # the ranking leaves out outputs too quiet for a tonal score to mean anything
            low = ", ".join(f"{r['kind']} {r['tonal_score_db']:.1f} dB" for r in rows[:max(1, min(2, len(rows) - 1))])
            lines.append(f"Tonal score {where}: highest {rows[-1]['kind']} "
                         f"({rows[-1]['tonal_score_db']:.1f} dB), lowest {low}; real audio {fmt(ref, '.1f')} dB"
                         + (" (kinds too quiet to rank: see below)." if quiet else "."))
        if quiet:
            lines.append(f"Far too quiet {where} for their tonal score to mean anything (more than "
                         f"{-QUIET_DB:.0f} dB below the real audio): " + ", ".join(
                             f"{r['kind']} ({_quiet_levels(r, comp.reference)}; tonal score "
                             f"{r['tonal_score_db']:.1f} dB)" for r in quiet) + ".")
    if 0 in comp.stages and len(comp.stages) > 1:
        step, init = comp.stages[-1], {r["kind"]: r["tonal_score_db"] for r in ok(0)}
        up = [f"{r['kind']} ({init[r['kind']]:.1f} -> {r['tonal_score_db']:.1f} dB)" for r in ok(step)
              if r["kind"] in init and r["tonal_score_db"] > init[r["kind"]] + 10]
        down = [f"{r['kind']} ({init[r['kind']]:.1f} -> {r['tonal_score_db']:.1f} dB)" for r in ok(step)
                if r["kind"] in init and r["tonal_score_db"] < init[r["kind"]] - 10]
        if up:
            lines.append(f"Lines grew by more than 10 dB during training: {', '.join(up)}.")
        if down:
            lines.append(f"Lines fell by more than 10 dB during training: {', '.join(down)}.")
        best = [r for r in ok(step) if r.get("mel_l1") is not None]
        if best:
            b = min(best, key=lambda r: r["mel_l1"])
            lines.append(f"Closest to the real audio {stage_words(step)} (mel L1): {b['kind']} "
                         f"({b['mel_l1']:.2f}, tonal score {b['tonal_score_db']:.1f} dB, "
                         f"level {fmt(b.get('level_db'), '+.0f')} dB).")
    return lines


def _quiet_levels(rec: dict, reference: dict) -> str:
    """``"-30 dB overall, -100 dB above 1 kHz"``: how far below the real audio an output is."""
    high = band_level_db(rec, reference)
    return (f"{fmt(rec.get('level_db'), '+.0f')} dB overall"
            + (f", {high:+.0f} dB above 1 kHz" if high is not None else ""))


def step0_levels(comp) -> Optional[str]:
    """``"transposed -63 dB, sinc -72 dB, ..."``: every kind's output level at initialisation."""
    rows = [r for r in comp.rows(0) if "error" not in r and r.get("level_db") is not None]
    if not rows:
        return None
    return ", ".join(f"{r['kind']} {r['level_db']:+.0f} dB" for r in rows)


def verdict(rec: dict, reference: dict) -> str:
    """One plain line for one kind, in dB relative to the real audio."""
    kind = rec["kind"]
    if "error" in rec:
        return f"{kind}: training failed ({rec['error'].splitlines()[0]})."
    level, tonal, real = rec.get("level_db"), rec.get("tonal_score_db"), reference.get("tonal_score_db")
    where = "at initialisation" if rec.get("step") == 0 else f"after {rec.get('step')} steps"
    high = band_level_db(rec, reference)
    parts = [f"{kind} {where}: output {fmt(level, '+.0f')} dB re the real audio"
             + (f" ({high:+.0f} dB above 1 kHz)" if high is not None else "")]
    if tonal is not None and real is not None:
        excess = round(tonal - real, 1) + 0.0  # no "-0.0"
        parts.append(f"lines {excess:+.1f} dB over the real audio's tonal score"
                     + (" (as clean as the real audio)" if excess < 1.0 else
                        " (clearly above the real audio)" if excess > 3.0 else ""))
    parts.append(f"mel L1 {fmt(rec.get('mel_l1'), '.2f')}, PESQ {fmt(rec.get('pesq_wb'), '.2f')}")
    line = "; ".join(parts) + "."
    if too_quiet(rec, reference):  # say which level is low: a loud rumble can be quiet above 1 kHz only
        band = "" if level is not None and level < QUIET_DB else " above 1 kHz"
        line += f" Too quiet{band} (< {QUIET_DB:.0f} dB) for its tonal score to mean much."
    return line


def write_report(comp, text: dict) -> Path:
    """Write ``report.md`` with both tables and figures into ``comp.out_dir``; returns its path.

    ``text`` may hold ``title``, ``intro`` (replaces :data:`INTRO`), ``limits``
    (replaces :data:`LIMITS`) and ``command`` (how to reproduce).
    """
    out = comp.out_dir
    figures = [(plot_spectra(comp, out / "spectra.png"),
                "Stationary spectra of the vocoded test audio (median over frames), one panel per "
                "upsampler, over the real audio's (grey); ticks at the bottom mark the frequencies "
                "where each layer predicts lines (taller = later layer)."),
               (plot_per_layer(comp, out / "per_layer.png"),
                "Tonal score per layer: mean prominence of the lines each upsampling layer predicts "
                "(the label gives its factor and line spacing); grey marks: the real audio.")]
    where = f"on {comp.info.get('device')} with {comp.info.get('threads')} thread(s)"
    parts = [f"# {text.get('title') or 'Upsampler comparison'}", "", text.get("intro") or INTRO, "",
             "## Setup", "", setup_text(comp), ""]
    facts = summary(comp)
    levels = step0_levels(comp)
    if levels:
        facts.append(f"Output level at initialisation (DC removed, re the real audio): {levels}.")
    if facts:
        parts += ["## In short", "", *[f"- {f}" for f in facts], ""]
    last = comp.stages[-1] if comp.stages else None
    if last is not None and comp.rows(last):
        parts += ["## Verdict per kind", "", *[f"- {verdict(r, comp.reference)}" for r in comp.rows(last)], ""]
    for step in comp.stages:
        parts += [f"## {stage_title(step)}", "", markdown_table(table(comp, step)), ""]
        notes = sorted({n for r in comp.rows(step) for n in r.get("notes", [])})
        if notes:
            parts += ["Notes: " + "; ".join(notes), ""]
    parts += ["What the columns mean:", "", METRICS.format(speed_where=where), "", "## Figures", ""]
    for path, caption in figures:
        if path is not None:
            parts += [f"![{path.stem}]({path.name})", "", f"*{caption}*", ""]
    parts += ["## What this run can and cannot show", "", text.get("limits") or LIMITS, "",
              "## Files", "",
              "- `audio/STAGE/KIND/*.wav` (STAGE: `step_NNNNNNNN`, or `budget_Mmin` for a time "
              "budget): the vocoded test clips (listen to them).",
              "- `results/STAGE/KIND.json`: every number above, per file, with the "
              "per-layer breakdown and the stationary spectrum.",
              "- `runs/KIND/`: training runs (checkpoints, `train.log`, TensorBoard logs: "
              "`tensorboard --logdir runs`)."]
    if text.get("command"):
        parts += ["", f"Reproduce (re-running reuses finished results): `{text['command']}`"]
    path = out / "report.md"
    return atomic_write(path, "\n".join(parts) + "\n")
