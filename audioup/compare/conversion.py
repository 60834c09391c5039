"""A released vocoder made line-free: choose the layers, project, recover, and measure.

:func:`convert_and_recover` is ``audioup convert`` (and each kind of ``audioup compare
--from``):

1. **Plan** (:func:`.plan.plan_conversion`). Each transposed layer gets the shortest kernel of
   its kind's ladder (:func:`.plan.kernel_ladder`) whose projection keeps all but
   :data:`.plan.RESIDUAL_TARGET` of the trained kernel, or the longest. With ``layers="auto"`` the
   layers to replace are then chosen from measurement. When the original's strongest
   predicted line stands more than ``line_target_db`` over the real calibration speech,
   every *cheap* layer goes first: one whose kernel makes a comb (its checkerboard score,
   :func:`audioup.analysis.checkerboard_score`, is above :data:`.plan.FLAT_COMB_DB`) and whose
   projection keeps all but :data:`.plan.CHEAP_RESIDUAL` of it. A few calibration clips cannot
   show every voice's lines (on V1 Universal, four Czech clips show none from the second
   x8 layer, a Russian male voice shows its 6891 Hz line at +10 dB), and replacing such a
   layer costs little anywhere. Then, greedily, the costly layer whose replacement lowers
   the strongest line the most, until none stands more than ``line_target_db`` over the
   real recording, or no layer lowers it by :data:`.plan.MIN_GAIN_DB` more; a layer whose
   replacement would raise the calibration clips' mel L1 more than :data:`.plan.MAX_MEL_RISE`
   times is not a candidate (the first x8 layer of V1). Each layer's record
   says why it was or was not replaced, and how much of its output on the calibration
   clips is a fixed within-frame pattern, which no resize layer makes.
2. **Project** (:func:`audioup.models.convert.convert_generator`) and write step 0.
3. **Recover** within ``budget_minutes`` of wall time (:func:`audioup.train.distill.distill`:
   the converted stages learn to make what the original makes from real speech), resumable.
4. **Measure** the original, the projection and the recovered vocoder on held-out test
   clips (:mod:`audioup.evaluation`): PESQ-WB, STOI, mel L1, M-STFT and the lines over the
   real recordings.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence

import torch

from ..audio.fs import atomic_write
from ..audio.io import AudioError, audio_info, find_audio_files
from ..data.dataset import DataError, read_filelist
from ..errors import CommandError
from ..data.corpus import DEFAULT_SOURCES
from ..evaluation import evaluate_vocoder, format_row, load_clips, summarize, table_header
from ..inference import build_vocoder
from ..layers import upsampler_label
from ..models.checkpoint import FORMAT, VERSION, checkpoint_path, list_checkpoints
from ..models.convert import convert_generator, istft_head_generator
from ..train.checkpoint import save_checkpoint
from ..train.distill import (TOP_BAND_HZ, WAVE_WEIGHT, DistillSettings, distill, load_training_audio, notched_lines,
                             predicted_lines)

from .plan import (LINE_TARGET_DB, Layers, _input_rates, parse_kernel_sizes, parse_layers,  # noqa: F401 (re-exported)
                   plan_conversion, plan_istft_head)

CALIBRATION_FILES = 6  # files of the fine-tune data measured by layers="auto" (2-10 s each, spread over it)
PACKAGE_CLIPS = DEFAULT_SOURCES  # the bundled CMU ARCTIC clips, package data
# The other target a released HiFi-GAN can be converted to: its last layers (x2 x2 on V1) replaced by
# an inverse STFT of this hop (iSTFTNet's C8C8I), the generator kind of the same name.
ISTFT_HEAD = "istftnet"
ISTFT_HOP = 4


def target_label(kind: Any) -> str:
    """How reports name a conversion target: an upsampler kind's label, or the iSTFT head."""
    return f"iSTFTNet head (hop {ISTFT_HOP})" if kind == ISTFT_HEAD else upsampler_label(kind)


def default_test_clips() -> List[Path]:
    """The bundled CMU ARCTIC clips (English; no audioup model trained on them)."""
    return sorted(PACKAGE_CLIPS.glob("*.wav"))


def calibration_files(data: List[Path]) -> List[Path]:
    """:data:`CALIBRATION_FILES` files of ``data`` (folders expanded) of 2-10 s, spread evenly over its
    sorted list, so that a corpus sorted by speaker gives several speakers, not the first one's."""
    try:
        files = find_audio_files(data)
    except AudioError as exc:
        raise CommandError(str(exc)) from None
    usable = []
    for f in files:
        try:
            seconds = audio_info(f).duration
        except (AudioError, AttributeError):
            continue
        if 2.0 <= seconds <= 10.0:
            usable.append(f)
    pool = usable or files
    if len(pool) <= CALIBRATION_FILES:
        return list(pool)
    step = len(pool) / CALIBRATION_FILES
    return [pool[int(step * k + step / 2)] for k in range(CALIBRATION_FILES)]


def expand_data(paths) -> List[Path]:
    """Files, folders and filelists (``.txt``: one path per line, relative to the list)."""
    out: List[Path] = []
    for p in map(Path, paths):
        if p.suffix == ".txt" and p.is_file():
            try:
                out += read_filelist(p)
            except (DataError, UnicodeDecodeError) as exc:
                raise CommandError(f"{p}: {exc}") from None
        else:
            out.append(p)
    return out


def _payload(source, config, state, source_name, plan, kind) -> Dict[str, Any]:
    return {"format": FORMAT, "version": VERSION, "step": 0, "sample_rate": source["mel"]["sample_rate"],
            "mel": dict(source["mel"]), "generator_config": config, "generator": state,
            "converted_from": str(source_name),
            "conversion": {"to": kind if isinstance(kind, str) else dict(kind), "layers": list(plan["layers"]),
                           "kernel_sizes": {str(k): v for k, v in plan["kernel_sizes"].items()}}}


def convert_and_recover(source: Dict[str, Any], source_name: str, kind: Any, out, *, layers: Layers = "auto",
                        kernel_sizes=None, budget_minutes: float = 0.0, data: Sequence = (),
                        test: Sequence = (), calibration: Sequence = (), line_target_db: float = LINE_TARGET_DB,
                        evaluate: bool = True, max_steps: int = 0, save_every_s: float = 60.0,
                        notch_hz: float = 30.0, line_weight: float = 0.0, top_hz: Optional[float] = None,
                        wave_weight: float = WAVE_WEIGHT, lr: float = DistillSettings.lr, progress: bool = True,
                        log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Plan, project, recover and measure (see the module docstring); writes ``out``.

    ``out`` gets ``checkpoints/ckpt_00000000.pt`` (the projection), the fine-tuned
    checkpoint when ``budget_minutes > 0`` and ``convert.json`` (the report, returned).
    A second call with the same arguments resumes the fine-tune where it stopped.

    Raises:
        ValueError: bad layers or kind, unusable clips, or ``out`` converted with other settings.
    """
    out = Path(out)
    sr = source["mel"]["sample_rate"]
    report: Dict[str, Any] = {"source": str(source_name), "to": kind if isinstance(kind, str) else dict(kind),
                              "label": target_label(kind)}
    existing = list_checkpoints(out)
    if existing:
        first = torch.load(existing[0][1], map_location="cpu", weights_only=True)
        saved = first.get("conversion")
        request = {"source": str(source_name), "to": report["to"]}
        if not saved or first.get("converted_from") != str(source_name) or saved.get("to") != request["to"]:
            raise ValueError(f"{out}: holds another conversion ({first.get('converted_from')} -> "
                             f"{(saved or {}).get('to')}); use --force to replace it")
        config, state = first["generator_config"], first["generator"]
        plan_path = out / "plan.json"
        plan = json.loads(plan_path.read_text()) if plan_path.exists() else {
            "layers": saved["layers"], "kernel_sizes": saved["kernel_sizes"], "records": [], "trials": []}
        log(f"resuming the conversion in {out} (layers {plan['layers']})")
    else:
        if kind == ISTFT_HEAD:
            calib = load_clips(calibration, sr, log=log) if calibration else []
            log(f"converting to {report['label']}"
                + (f", its head fitted to the original on {len(calib)} calibration clip(s)" if calib else ""))
            config, state, replaced = istft_head_generator(
                source, ISTFT_HOP, fit_on=[torch.from_numpy(c.samples) for c in calib])
            plan = plan_istft_head(source, replaced, ISTFT_HOP, config["kwargs"]["istft_n_fft"])
        else:
            calib = load_clips(calibration, sr, log=log) if layers == "auto" else []
            log(f"planning the conversion to {report['label']}"
                + (f" on {len(calib)} calibration clip(s)" if calib else ""))
            plan = plan_conversion(source, kind, layers, kernel_sizes, calib, line_target_db, log)
            if not plan["layers"]:
                log("  no layer needs converting: the step-0 checkpoint is the original")
            config, state, _ = convert_generator(source, kind, plan["layers"], plan["kernel_sizes"]) \
                if plan["layers"] else (source["generator_config"], source["generator"], [])
        out.mkdir(parents=True, exist_ok=True)
        atomic_write(out / "plan.json", json.dumps(plan, indent=2) + "\n")
        save_checkpoint(_payload(source, config, state, source_name, plan, kind), checkpoint_path(out, 0))
    report["plan"] = plan
    for r in plan["records"]:
        what = (f"kernel {r.get('kernel_size') or 'default'}, residual {100 * r.get('residual_energy', 0):.1f} %"
                if r["transposed"] else "")
        if "position_code_share" in r:
            what += f", fixed pattern {100 * r['position_code_share']:.0f} %"
        log(f"  layer {r['index']} x{r['factor']}: {'REPLACED' if r['converted'] else 'kept    '} {what}  {r['reason']}")
    if budget_minutes > 0 and plan["layers"]:
        clips = load_training_audio(data, sr, log=log)
        rates = [r["input_rate_hz"] for r in plan["records"] if r["converted"]] if plan["records"] else \
            _input_rates(config, sr, plan["layers"])
        head = "istft" in plan
        # a fresh iSTFT head learns at a higher rate, and the stage before it learns to feed it
        settings = DistillSettings(budget_s=60.0 * budget_minutes, max_steps=max_steps,
                                   first_layer=max(0, min(plan["layers"]) - head), data=[str(d) for d in data],
                                   fresh=["conv_post."] if head else [],
                                   save_every_s=save_every_s, lines_hz=notched_lines(rates, sr, notch_hz), notch_hz=notch_hz,
                                   top_hz=sr / 2 - TOP_BAND_HZ if top_hz is None else top_hz,
                                   penalty_hz=predicted_lines(_input_rates(source["generator_config"], sr), sr),
                                   line_weight=line_weight, wave_weight=wave_weight, lr=lr)
        report["fine_tune"] = {**distill(source, out, settings, clips, progress=progress, log=log),
                               "budget_minutes": budget_minutes, "data": [str(d) for d in data]}
    if evaluate:
        report["evaluation"] = evaluate_conversion(source, out, test, log)
    atomic_write(out / "convert.json", json.dumps(report, indent=2, default=float) + "\n")
    return report


def conversion_stages(out) -> List[tuple]:
    """``(step, generator_config, weights)`` of the projection (step 0) and, when there is one, the
    newest fine-tuned checkpoint in a converted run folder."""
    found = list_checkpoints(out)
    stages = []
    for step, path in found[:1] + found[1:][-1:]:
        data = torch.load(path, map_location="cpu", weights_only=True)
        stages.append((step, data["generator_config"], data["generator"]))
    return stages


def evaluate_conversion(source: Dict[str, Any], out, test: Sequence, log=print) -> Dict[str, Any]:
    """The original, the projection (step 0) and the newest checkpoint on the test clips."""
    sr = source["mel"]["sample_rate"]
    clips = load_clips(test or default_test_clips(), sr, log=log)
    rows = [("original", source["generator_config"], source["generator"])]
    rows += [("projection" if step == 0 else f"fine-tuned ({step} steps)", config, state)
             for step, config, state in conversion_stages(out)]
    result: Dict[str, Any] = {"test": [str(c.path) for c in clips], "rows": {}}
    log(f"held-out test: {len(clips)} clip(s), {sum(len(c.samples) for c in clips) / sr:.0f} s")
    log(table_header())
    for name, config, state in rows:
        t = time.monotonic()
        per_clip = evaluate_vocoder(build_vocoder(config, source["mel"], state), clips)
        summary = summarize(per_clip)
        result["rows"][name] = {"summary": summary, "clips": [r.to_dict() for r in per_clip],
                                "seconds": time.monotonic() - t}
        log(format_row(name, summary))
    return result


def cell(value, fmt: str) -> str:
    return "n/a" if value is None else format(value, fmt)


# the held-out table's columns: (title, summary key, format); MOS is DistillMOS, n/a when not installed
COLUMNS = (("PESQ-WB", "pesq_wb", ".2f"), ("STOI", "stoi", ".3f"), ("mel L1", "mel_l1", ".3f"),
           ("M-STFT", "mrstft", ".3f"), ("MOS", "mos", ".2f"), ("line dB", "line_over_real_db", "+.1f"),
           ("worst dB", "worst_line_over_real_db", "+.1f"))


def table_head(*first: str) -> List[str]:
    titles = list(first) + [c[0] for c in COLUMNS]
    return ["| " + " | ".join(titles) + " |", "|" + "---|" * len(titles)]


def table_row(*first, summary: Dict[str, Any]) -> str:
    return "| " + " | ".join([str(f) for f in first] + [cell(summary.get(k), f) for _, k, f in COLUMNS]) + " |"


def render_conversion(report: Dict[str, Any]) -> str:
    """``audioup convert``'s report (convert.json) as Markdown: what was replaced, and the held-out table."""
    lines = [f"`{report['source']}` -> {report['label']}, layers replaced: "
             + (", ".join(str(i) for i in report["plan"]["layers"]) or "none"), ""]
    for r in report["plan"]["records"]:
        if r["transposed"]:
            lines.append(f"- layer {r['index']} (x{r['factor']}, input rate {r['input_rate_hz']:.0f} Hz): "
                         f"{'replaced' if r['converted'] else 'kept'}, kernel {r.get('kernel_size') or 'default'} "
                         f"(residual {100 * (r.get('residual_energy') or 0):.1f} %"
                         + (f", fixed pattern {100 * r['position_code_share']:.0f} %" if "position_code_share" in r else "")
                         + f"): {r['reason']}")
        elif r.get("replaced_by"):
            lines.append(f"- layer {r['index']} (x{r['factor']}, input rate {r['input_rate_hz']:.0f} Hz): {r['reason']}")
    tune = report.get("fine_tune")
    if tune:
        lines.append(f"- fine-tune: {tune['steps']} steps in {tune['elapsed_s'] / 60:.1f} min "
                     f"(budget {tune['budget_minutes']:g} min)")
    evaluation = report.get("evaluation")
    if evaluation:
        lines += [""] + table_head("vocoder")
        lines += [table_row(name, summary=row["summary"]) for name, row in evaluation["rows"].items()]
        lines.append(f"\n{len(evaluation['test'])} held-out clip(s).")
    return "\n".join(lines)
