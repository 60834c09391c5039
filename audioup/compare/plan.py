"""Which layers of a released vocoder to convert, with which kernels, and why: the plan.

:func:`plan_conversion` is step 1 of :func:`audioup.compare.conversion.convert_and_recover`
(see that module's docstring for the rules). Each transposed layer gets the shortest kernel of
its kind's ladder (:func:`choose_kernels`); with ``layers="auto"`` the layers are chosen from
measurement on calibration clips, and each layer's record says why it was or was not replaced,
with its checkerboard score and, measured on those clips, the share of its output that is a
fixed within-frame pattern (:mod:`audioup.analysis.position`).
"""
from __future__ import annotations

import math
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple, Union

import torch

from ..analysis.checkerboard import checkerboard_score
from ..analysis.position import position_code_shares
from ..errors import CommandError
from ..evaluation import evaluate_vocoder, summarize
from ..inference import build_vocoder
from ..layers import upsampler_class
from ..models.convert import convert_generator, transposed_layers
from ..models.registry import build_generator_from

# a kernel keeping all but 1 % of the trained one is long enough. At 5 % (the rule until
# 2026-12-06) V1 Universal's second x2 layer got 5 taps (4.2 % lost); at 33 (0.75 %) the projection's
# mel L1 on the 16 held-out clips falls from 0.509 to 0.385 (benchmarks/RESULTS.md, issue 19)
RESIDUAL_TARGET = 0.01
CHEAP_RESIDUAL = 0.05  # auto: a comb-making layer that keeps all but this much is replaced first
LADDER_MULTIPLES = (2, 4, 8, 16)  # the ladder after the default: kernels of m * factor + 1 taps
MAX_LADDER_KERNEL = 65  # the ladder's longest kernel (a longer one may still be asked for)
LINE_TARGET_DB = 3.0  # auto: no predicted line more than this over the real recording's strongest
MIN_GAIN_DB = 1.0  # auto: a layer is replaced only if that lowers the worst line by this much
# auto: nor if it raises the calibration clips' mel L1 more than this factor. On V1 Universal the
# first x8 layer's projection takes mel L1 from 1.7x to 2.8x the original's and a 20-minute
# fine-tune does not win it back (PESQ 1.79 -> 1.35): the later layers use that layer's fixed
# within-frame pattern as a clock (benchmarks/RESULTS.md, issue 19).
MAX_MEL_RISE = 1.5
FLAT_COMB_DB = -60.0  # auto: a kernel whose constant response has a periodic part above this makes lines
MAX_KERNEL = 1024  # longer kernels are refused (weights of gigabytes on a wide layer)

Layers = Union[str, Sequence[int]]

def kernel_ladder(factor: int) -> List[Optional[int]]:
    """Kernel lengths tried per layer, shortest first (``None``: the kind's default): ``m * f + 1``
    for each ``m`` of :data:`LADDER_MULTIPLES`, those up to :data:`MAX_LADDER_KERNEL` taps."""
    return [None] + [m * factor + 1 for m in LADDER_MULTIPLES if m * factor + 1 <= MAX_LADDER_KERNEL]


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
    if isinstance(layers, str) and layers not in ("auto", "all"):
        raise ValueError(f"layers must be 'auto', 'all' or indices, got {layers!r}")
    if not isinstance(layers, str):
        bad = [i for i in layers if i not in candidates]
        if bad:
            raise ValueError(f"layer {bad[0]} is not a transposed upsampler of this generator "
                             f"(transposed: {candidates})")
    if upsampler_class(kind).REFERENCE:  # to the reference kind: every layer stays as trained
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
    too_costly: Dict[int, Tuple[Dict[str, float], Dict[str, float]]] = {}  # layer -> (plan then, with it)
    cheap = [i for i in candidates if cheap_first and kernels[i]["residual_energy"] <= CHEAP_RESIDUAL
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
                if r["mel_l1"] > MAX_MEL_RISE * now["mel_l1"]:
                    too_costly[i] = (now, r)
                    continue
                too_costly.pop(i, None)
                options.append((round(r["worst_line_over_real_db"] * 2) / 2, r["mel_l1"], i, r))
        if not options:
            break
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
        elif r["index"] in too_costly:
            then, cost = too_costly[r["index"]]
            r["reason"] = (f"kept: replacing it would lower the strongest line from {then['worst_line_over_real_db']:+.1f} "
                           f"to {cost['worst_line_over_real_db']:+.1f} dB but raise mel L1 from {then['mel_l1']:.3f} to "
                           f"{cost['mel_l1']:.3f} (more than {MAX_MEL_RISE:g}x), which a short fine-tune does not win back")
        elif now["worst_line_over_real_db"] <= target:
            r["reason"] = (f"kept: with the others replaced no line stands more than {target:g} dB over the "
                           f"real audio ({now['worst_line_over_real_db']:+.1f} dB)")
        else:
            r["reason"] = (f"kept: replacing it lowered the strongest line by only "
                           f"{gains.get(r['index'], 0.0):.1f} dB (needs {MIN_GAIN_DB:g})")
    return chosen


def plan_istft_head(source: Dict[str, Any], replaced: Sequence[int], istft_hop: int, istft_n_fft: int) -> Dict[str, Any]:
    """The plan of an iSTFT-head conversion (:func:`audioup.models.convert.istft_head_generator`):
    the layers in ``replaced`` give way to the inverse STFT, the others stay as trained."""
    factors = source["generator_config"]["kwargs"].get("upsample_factors") or (8, 8, 2, 2)
    rates = _input_rates(source["generator_config"], source["mel"]["sample_rate"])
    head = f"an inverse STFT (hop {istft_hop}, n_fft {istft_n_fft})"
    records = [{"index": i, "factor": int(f), "input_rate_hz": rates[i], "transposed": False,
                "converted": i in replaced, "replaced_by": head if i in replaced else None,
                "reason": (f"replaced, with its residual blocks, by {head}" if i in replaced
                           else "kept as trained: the iSTFT generator's trunk")}
               for i, f in enumerate(factors)]
    return {"layers": list(replaced), "kernel_sizes": {}, "records": records, "trials": [],
            "istft": {"hop": int(istft_hop), "n_fft": int(istft_n_fft)}}


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
