"""The comparison of upsampler kinds from one released vocoder: ``audioup compare --from``.

:func:`compare_from_pretrained` converts the same vocoder to each kind
(:func:`audioup.compare.conversion.convert_and_recover`), gives each the same fine-tune
budget on real speech, measures all on the same held-out clips and writes ``report.json``,
``report.md`` (:func:`render_comparison`) and ``report.png``.
"""
from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any, Callable, Dict, Sequence

import torch

from ..audio.fs import atomic_write
from ..evaluation import evaluate_vocoder, load_clips, summarize
from ..inference import build_vocoder
from .conversion import (COLUMNS, ISTFT_HEAD, Layers, conversion_stages, convert_and_recover, default_test_clips,
                         table_head, table_row)


# the upsampler kinds, and the iSTFT head that replaces the last layers
FROM_KINDS = ("resize-nearest", "resize-linear", "sinc", "subpixel-icnr", ISTFT_HEAD)


def compare_from_pretrained(source: Dict[str, Any], source_name: str, out, kinds: Sequence[str] = FROM_KINDS, *,
                            layers: Layers = "auto", budget_minutes: float = 5.0, data: Sequence = (),
                            test: Sequence = (), calibration: Sequence = (), progress: bool = True,
                            log: Callable[[str], Any] = print) -> Dict[str, Any]:
    """Convert ``source`` to each kind, give each the same fine-tune budget, measure all on ``test``.

    Each kind is a :func:`convert_and_recover` run in ``out/KIND`` (resumed when run again);
    ``out/report.json`` and ``out/report.md`` (with ``report.png``) hold, per kind, the held-out
    summary of the projection and of the fine-tuned vocoder beside the original's. A kind that
    cannot be converted (no folded form to project onto) gets its error in the report and the
    others go on.
    """
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    sr = source["mel"]["sample_rate"]
    clips = load_clips(test or default_test_clips(), sr, log=log)
    report: Dict[str, Any] = {"source": str(source_name), "layers": layers if isinstance(layers, str) else list(layers),
                              "budget_minutes": budget_minutes, "data": [str(d) for d in data],
                              "test": [str(c.path) for c in clips], "threads": torch.get_num_threads(),
                              "kinds": {}}
    log(f"original {source_name} on {len(clips)} held-out clip(s)")
    report["original"] = summarize(evaluate_vocoder(build_vocoder(source["generator_config"], source["mel"],
                                                                  source["generator"]), clips))
    for kind in kinds:
        folder = out / kind
        log(f"\n== {kind}")
        t = time.monotonic()
        try:
            result = convert_and_recover(source, source_name, kind, folder, layers=layers,
                                         budget_minutes=budget_minutes, data=data, calibration=calibration,
                                         evaluate=False, progress=progress, log=log)
        except ValueError as exc:
            log(f"  {kind}: {exc}")
            report["kinds"][kind] = {"error": str(exc)}
            continue
        rows = {}
        for step, config, state in conversion_stages(folder):
            vocoder = build_vocoder(config, source["mel"], state)
            rows["projection" if step == 0 else "fine-tuned"] = {"step": step, **summarize(evaluate_vocoder(vocoder, clips))}
        report["kinds"][kind] = {"layers": result["plan"]["layers"],
                                 "residual_energy": {str(r["index"]): r.get("residual_energy")
                                                     for r in result["plan"]["records"] if r["converted"]},
                                 "fine_tune": {k: v for k, v in result.get("fine_tune", {}).items()
                                               if k in ("steps", "elapsed_s", "losses")},
                                 "minutes": (time.monotonic() - t) / 60, **rows}
        atomic_write(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    atomic_write(out / "report.json", json.dumps(report, indent=2, default=float) + "\n")
    atomic_write(out / "report.md", render_comparison(report) + "\n")
    try:
        _plot_comparison(report, out / "report.png")
    except ImportError:  # matplotlib missing: the table stands alone
        pass
    log("\n" + render_comparison(report))
    return report


def render_comparison(report: Dict[str, Any]) -> str:
    """The comparison as a Markdown table: one row per kind and stage, the original first.

    ``line dB`` is the mean over clips of the strongest predicted line minus the real
    recording's strongest; ``worst`` its maximum over clips.
    """
    rows = table_head("vocoder", "steps")

    def row(name, steps, summary):
        rows.append(table_row(name, steps, summary=summary))

    row(f"original ({report['source']})", "-", report["original"])
    for kind, result in report["kinds"].items():
        if "error" in result:
            rows.append(f"| {kind} | - | {result['error']} |" + "|" * (len(COLUMNS) - 1))
            continue
        layers = ",".join(str(i) for i in result["layers"])
        for stage in ("projection", "fine-tuned"):
            if stage in result:
                row(f"{kind} (layers {layers}), {stage}", result[stage]["step"], result[stage])
    n = len(report["test"])
    note = (f"\n\n{n} held-out clip(s); fine-tune budget {report['budget_minutes']:g} min of wall time per kind "
            f"({report['threads']} threads), layers {report['layers']}.")
    return "\n".join(rows) + note


def _plot_comparison(report: Dict[str, Any], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")  # a file, never a window
    import matplotlib.pyplot as plt

    from ..audio.fs import save_figure

    names, pesq, lines = ["original"], [report["original"].get("pesq_wb")], [report["original"]["worst_line_over_real_db"]]
    for kind, result in report["kinds"].items():
        for stage in ("projection", "fine-tuned"):
            if stage in result:
                names.append(f"{kind}\n{stage}")
                pesq.append(result[stage].get("pesq_wb"))
                lines.append(result[stage]["worst_line_over_real_db"])
    fig, (a, b) = plt.subplots(1, 2, figsize=(max(8, 1.3 * len(names)), 4))
    a.bar(range(len(names)), [p or 0 for p in pesq], color="tab:blue")
    a.set_ylabel("PESQ-WB (held-out mean)")
    b.bar(range(len(names)), lines, color=["tab:red" if v > 3 else "tab:green" for v in lines])
    b.axhline(3, color="k", lw=0.8, ls="--")
    b.set_ylabel("worst line over the real recording (dB)")
    for ax in (a, b):
        ax.set_xticks(range(len(names)))
        ax.set_xticklabels(names, fontsize=7)
    fig.suptitle(f"from {report['source']}: {report['budget_minutes']:g} min fine-tune per kind")
    fig.tight_layout()
    save_figure(fig, path)
    plt.close(fig)
