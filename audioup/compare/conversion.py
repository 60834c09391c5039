"""A released vocoder made line-free: choose the layers, project, recover, and measure.

:func:`convert_and_recover` is ``audioup convert`` (and each kind of ``audioup compare
--from``):

1. **Plan** (:func:`plan_conversion`). Each transposed layer gets the shortest kernel of
   its kind's ladder (default, ``2f+1``, ``4f+1``, ``8f+1``) whose projection keeps all but
   :data:`RESIDUAL_TARGET` of the trained kernel, or the longest. With ``layers="auto"`` the
   layers to replace are then chosen from measurement. When the original's strongest
   predicted line stands more than ``line_target_db`` over the real calibration speech,
   every *cheap* layer goes first: one whose kernel makes a comb (its checkerboard score,
   :func:`audioup.analysis.checkerboard_score`, is above :data:`FLAT_COMB_DB`) and whose
   projection keeps all but :data:`RESIDUAL_TARGET` of it. A few calibration clips cannot
   show every voice's lines (on V1 Universal, four Czech clips show none from the second
   x8 layer, a Russian male voice shows its 6891 Hz line at +10 dB), and replacing such a
   layer costs little anywhere. Then, greedily, the costly layer whose replacement lowers
   the strongest line the most, until none stands more than ``line_target_db`` over the
   real recording, or no layer lowers it by :data:`MIN_GAIN_DB` more. Each layer's record
   says why it was or was not replaced.
2. **Project** (:func:`audioup.models.convert.convert_generator`) and write step 0.
3. **Recover** within ``budget_minutes`` of wall time (:func:`audioup.train.distill.distill`:
   the converted stages learn to make what the original makes from real speech), resumable.
4. **Measure** the original, the projection and the recovered vocoder on held-out test
   clips (:mod:`audioup.evaluation`): PESQ-WB, STOI, mel L1, M-STFT and the lines over the
   real recordings.
"""
from __future__ import annotations

import json
import math
import time
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Union

import torch

from ..audio.fs import atomic_write
from ..audio.io import AudioError, audio_info, find_audio_files
from ..data.dataset import DataError, read_filelist
from ..errors import CommandError
from ..data.corpus import DEFAULT_SOURCES
from ..analysis.checkerboard import checkerboard_score
from ..analysis.position import position_code_shares
from ..evaluation import evaluate_vocoder, format_row, load_clips, summarize, table_header
from ..inference import build_vocoder
from ..layers import parse_upsampler_spec, upsampler_label
from ..models.checkpoint import FORMAT, VERSION, checkpoint_path, list_checkpoints
from ..models.convert import convert_generator, transposed_layers
from ..models.registry import build_generator_from
from ..train.checkpoint import save_checkpoint
from ..train.distill import (TOP_BAND_HZ, DistillSettings, distill, load_training_audio, notched_lines,
                             predicted_lines)

RESIDUAL_TARGET = 0.05  # a kernel keeping all but 5 % of the trained one is long enough
LINE_TARGET_DB = 3.0  # auto: no predicted line more than this over the real recording's strongest
MIN_GAIN_DB = 1.0  # auto: a layer is replaced only if that lowers the worst line by this much
FLAT_COMB_DB = -60.0  # auto: a kernel whose constant response has a periodic part above this makes lines
MAX_KERNEL = 1024
CALIBRATION_FILES = 6  # files of the fine-tune data measured by layers="auto" (2-10 s each, spread over it)  # longer kernels are refused (weights of gigabytes on a wide layer)
PACKAGE_CLIPS = DEFAULT_SOURCES  # the bundled CMU ARCTIC clips, package data

Layers = Union[str, Sequence[int]]


def default_test_clips() -> List[Path]:
    """The bundled CMU ARCTIC clips (English; no audioup model trained on them)."""
    return sorted(PACKAGE_CLIPS.glob("*.wav"))


def kernel_ladder(factor: int) -> List[Optional[int]]:
    """Kernel lengths tried per layer, shortest first (``None``: the kind's default)."""
    return [None, 2 * factor + 1, 4 * factor + 1, 8 * factor + 1]


def choose_kernels(source: Dict[str, Any], kind: Any, layers: Sequence[int],
                   fixed: Union[None, int, Dict[int, int]] = None) -> Dict[int, Dict[str, Any]]:
    """Per layer ``{"kernel_size", "residual_energy", "tried"}``: the shortest ladder kernel within
    :data:`RESIDUAL_TARGET`, or the longest; ``fixed`` (one length or one per layer) overrides."""
    factors = source["generator_config"]["kwargs"].get("upsample_factors") or (8, 8, 2, 2)
    out = {}
    for i in layers:
        given = fixed if isinstance(fixed, int) else (fixed or {}).get(i)
        ladder = [given] if given is not None else kernel_ladder(int(factors[i]))
        tried = []
        for size in ladder:
            _, _, swaps = convert_generator(source, kind, [i], size)
            tried.append({"kernel_size": size, "residual_energy": swaps[0].residual_energy})
            if swaps[0].residual_energy <= RESIDUAL_TARGET:
                break
        best = tried[-1]
        out[i] = {"kernel_size": best["kernel_size"], "residual_energy": best["residual_energy"], "tried": tried}
    return out


def _worst_line(vocoder, clips) -> Dict[str, float]:
    s = summarize(evaluate_vocoder(vocoder, clips, optional=()))
    return {"worst_line_over_real_db": s["worst_line_over_real_db"], "mel_l1": s["mel_l1"]}


def plan_conversion(source: Dict[str, Any], kind: Any, layers: Layers = "auto",
                    kernel_sizes: Union[None, int, Dict[int, int]] = None, calibration: Sequence = (),
                    line_target_db: float = LINE_TARGET_DB, log: Callable[[str], Any] = print,
                    cheap_first: bool = True) -> Dict[str, Any]:
    """Which layers to replace, with which kernels, and why (see the module docstring).

    ``cheap_first=False`` leaves out the cheap-layers step: only the greedy measurement decides.

    Returns:
        ``{"layers": [...], "kernel_sizes": {i: k}, "records": [per layer], "trials": [...]}``.

    Raises:
        ValueError: a requested layer is not transposed, or none is.
    """
    candidates = transposed_layers(source["generator_config"])
    if not candidates:
        raise ValueError("the generator has no transposed upsampler to convert")
    factors = source["generator_config"]["kwargs"].get("upsample_factors") or (8, 8, 2, 2)
    kind_name, _ = parse_upsampler_spec(kind)
    if isinstance(layers, str) and layers not in ("auto", "all"):
        raise ValueError(f"layers must be 'auto', 'all' or indices, got {layers!r}")
    if not isinstance(layers, str):
        bad = [i for i in layers if i not in candidates]
        if bad:
            raise ValueError(f"layer {bad[0]} is not a transposed upsampler of this generator "
                             f"(transposed: {candidates})")
    if kind_name == "transposed":
        kernels = {i: {"kernel_size": None, "residual_energy": 0.0, "tried": []} for i in candidates}
    else:
        kernels = choose_kernels(source, kind, candidates, kernel_sizes)
    rates = _input_rates(source["generator_config"], source["mel"]["sample_rate"])
    combs = _checkerboards(source, candidates)
    records = [{"index": i, "factor": int(f), "input_rate_hz": rates[i], "transposed": i in candidates,
                "converted": False, **({"checkerboard_db": combs[i]} if i in combs else {}), **({k: v for k, v in kernels[i].items() if k != "tried"} if i in kernels else {}),
                "kernels_tried": kernels.get(i, {}).get("tried", []), "reason": ""}
               for i, f in enumerate(factors)]
    if calibration:
        for r, share in zip(records, _position_codes(source, calibration)):
            r["position_code_share"] = share
    trials: List[Dict[str, Any]] = []
    if layers == "all" or not isinstance(layers, str):
        chosen = list(candidates) if layers == "all" else sorted(set(layers))
        for r in records:
            r["converted"] = r["index"] in chosen
            r["reason"] = ("asked for (--layers)" if r["converted"] else
                           "not asked for" if r["transposed"] else "not a transposed layer")
    else:
        chosen = _auto_layers(source, kind, kernels, candidates, calibration, line_target_db, records, trials, log,
                              cheap_first)
    sizes = {i: kernels[i]["kernel_size"] for i in chosen if kernels[i]["kernel_size"] is not None}
    return {"layers": chosen, "kernel_sizes": sizes, "records": records, "trials": trials,
            "line_target_db": line_target_db}


def _checkerboards(source: Dict[str, Any], layers: Sequence[int]) -> Dict[int, float]:
    """Each listed upsampler's checkerboard score (dB): how strong a comb it makes of a constant."""
    generator = build_generator_from(source["generator_config"])
    generator.load_state_dict(source["generator"])
    return {i: checkerboard_score(generator.upsamplers[i]).checkerboard_db for i in layers}


def _position_codes(source: Dict[str, Any], clips: Sequence) -> List[float]:
    """Each upsampler's :func:`~audioup.analysis.position.fixed_pattern_share` on the clips: the
    share of its output that is one pattern repeated at every input sample, which no resize
    layer makes (V1 Universal's first x8 layer: 43 %, a clock its later layers use)."""
    vocoder = build_vocoder(source["generator_config"], source["mel"], source["generator"])
    mels = [vocoder.mel(torch.from_numpy(c.samples)[None]) for c in clips]
    return position_code_shares(vocoder.generator, mels)


def _input_rates(generator_config: Dict[str, Any], sample_rate: int,
                 layers: Optional[Sequence[int]] = None) -> List[float]:
    """Each upsampling layer's input rate in Hz (of ``layers``, default all): where its lines fall."""
    factors = [int(f) for f in generator_config["kwargs"].get("upsample_factors") or (8, 8, 2, 2)]
    rates = [sample_rate * math.prod(factors[:i]) / math.prod(factors) for i in range(len(factors))]
    return rates if layers is None else [rates[int(i)] for i in layers]


def _auto_layers(source, kind, kernels, candidates, calibration, target, records, trials, log,
                 cheap_first: bool = True) -> List[int]:
    if not calibration:
        raise ValueError("layers=auto needs calibration clips")
    mel = source["mel"]

    def measure(chosen: List[int]) -> Dict[str, float]:
        if chosen:
            cfg, state, _ = convert_generator(source, kind, chosen,
                                              {i: kernels[i]["kernel_size"] for i in chosen
                                               if kernels[i]["kernel_size"] is not None})
        else:
            cfg, state = source["generator_config"], source["generator"]
        result = _worst_line(build_vocoder(cfg, mel, state), calibration)
        trials.append({"layers": list(chosen), **result})
        return result

    chosen: List[int] = []
    now = measure(chosen)
    log(f"  calibration: the original's strongest predicted line stands "
        f"{now['worst_line_over_real_db']:+.1f} dB over the real recordings")
    gains: Dict[int, float] = {}
    cheap = [i for i in candidates if cheap_first and kernels[i]["residual_energy"] <= RESIDUAL_TARGET
             and records[i].get("checkerboard_db", 0.0) > FLAT_COMB_DB]
    if now["worst_line_over_real_db"] > target and cheap:
        result = measure(cheap)
        for i in cheap:
            records[i]["converted"] = True
            records[i]["reason"] = (f"cheap: its kernel makes a comb (checkerboard {records[i]['checkerboard_db']:+.1f} dB) "
                                    f"and keeps {100 * (1 - kernels[i]['residual_energy']):.0f} % in the new form; "
                                    f"with the other cheap layers the strongest line goes from "
                                    f"{now['worst_line_over_real_db']:+.1f} to {result['worst_line_over_real_db']:+.1f} dB")
            log(f"  layer {i} (x{records[i]['factor']}, input rate {records[i]['input_rate_hz']:.0f} Hz): "
                + records[i]["reason"])
        chosen, now = sorted(cheap), result
    while now["worst_line_over_real_db"] > target and len(chosen) < len(candidates):
        options = []
        for i in candidates:
            if i not in chosen:
                r = measure(sorted(chosen + [i]))
                gains[i] = now["worst_line_over_real_db"] - r["worst_line_over_real_db"]
                options.append((round(r["worst_line_over_real_db"] * 2) / 2, r["mel_l1"], i, r))
        best = min(options)  # the lowest worst line (to 0.5 dB), then the smallest mel change
        if now["worst_line_over_real_db"] - best[3]["worst_line_over_real_db"] < MIN_GAIN_DB:
            break
        i = best[2]
        records[i]["converted"] = True
        records[i]["reason"] = (f"lowers the strongest line over the real audio from "
                                f"{now['worst_line_over_real_db']:+.1f} to {best[3]['worst_line_over_real_db']:+.1f} dB "
                                f"(mel L1 {best[3]['mel_l1']:.3f})")
        log(f"  layer {i} (x{records[i]['factor']}, input rate {records[i]['input_rate_hz']:.0f} Hz): "
            + records[i]["reason"])
        chosen = sorted(chosen + [i])
        now = best[3]
    for r in records:
        if r["converted"]:
            continue
        if not r["transposed"]:
            r["reason"] = "not a transposed layer"
        elif r.get("checkerboard_db", 0.0) <= FLAT_COMB_DB and now["worst_line_over_real_db"] > target:
            r["reason"] = f"kept: its kernel makes no comb (checkerboard {r['checkerboard_db']:+.0f} dB)"
        elif now["worst_line_over_real_db"] <= target:
            r["reason"] = (f"kept: with the others replaced no line stands more than {target:g} dB over the "
                           f"real audio ({now['worst_line_over_real_db']:+.1f} dB)")
        else:
            r["reason"] = (f"kept: replacing it lowered the strongest line by only "
                           f"{gains.get(r['index'], 0.0):.1f} dB (needs {MIN_GAIN_DB:g})")
    return chosen


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


def parse_layers(text: str) -> Union[str, List[int]]:
    """``auto`` / ``all`` / ``2,3`` -> the value :func:`convert_and_recover` takes."""
    if text in ("auto", "all"):
        return text
    try:
        layers = [int(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise CommandError(f"--layers {text!r}: expected auto, all or comma-separated layer indices") from None
    if not layers or min(layers) < 0:
        raise CommandError(f"--layers {text!r}: expected auto, all or layer indices >= 0")
    return layers


def parse_kernel_sizes(text: Optional[str]) -> Union[None, int, Dict[int, int]]:
    """``9`` -> 9; ``0:65,3:9`` -> ``{0: 65, 3: 9}``; each between 1 and :data:`MAX_KERNEL`."""
    if text is None:
        return None
    try:
        if ":" not in text:
            sizes: Union[int, Dict[int, int]] = int(text)
            values = [sizes]
        else:
            sizes = {int(i): int(k) for i, k in (part.split(":") for part in text.split(",") if part.strip())}
            values = list(sizes.values())
    except ValueError:
        raise CommandError(f"--kernel-size {text!r}: expected K or I:K,J:K (integers)") from None
    if not values or any(not 1 <= v <= MAX_KERNEL for v in values):
        raise CommandError(f"--kernel-size {text!r}: each length must be between 1 and {MAX_KERNEL}")
    return sizes


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
                        progress: bool = True,
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
                              "label": upsampler_label(kind)}
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
        settings = DistillSettings(budget_s=60.0 * budget_minutes, max_steps=max_steps,
                                   first_layer=min(plan["layers"]), data=[str(d) for d in data],
                                   save_every_s=save_every_s, lines_hz=notched_lines(rates, sr, notch_hz), notch_hz=notch_hz,
                                   top_hz=sr / 2 - TOP_BAND_HZ if top_hz is None else top_hz,
                                   penalty_hz=predicted_lines(_input_rates(source["generator_config"], sr), sr),
                                   line_weight=line_weight)
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
