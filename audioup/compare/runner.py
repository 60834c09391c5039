"""Train the same vocoder with each upsampler kind and evaluate every one alike.

:func:`compare_upsamplers` loads one recipe once per kind (only
``model.upsampler`` and ``run_dir`` differ), evaluates each generator at
initialisation (step 0: the weights the training run starts from, same seed)
and after ``steps`` training steps through the real training loop
(:func:`audioup.train.loop.train`, one run folder per kind), vocodes the test
set and writes ``report.md`` with its figures.

The output folder is a cache: ``compare.json`` records the settings; each
evaluated (stage, kind) is kept as ``results/step_NNNNNNNN/KIND.json``, the
generated audio under ``audio/``, the training runs under ``runs/KIND``. Running
again with the same settings reuses finished results and resumes unfinished
training; more kinds or more steps add to it. A folder holding a comparison of a
different configuration is refused, never overwritten.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence

import torch

from ..audio.fs import atomic_write
from ..data.dataset import collect_files
from ..inference import build_vocoder, load_generator
from ..train.checkpoint import checkpoint_path, list_checkpoints
from ..train.config import to_dict
from ..train.loop import TrainingError, train
from ..train.setup import build_generator_from, generator_config, mel_settings
from ..train.speed import cpu_threads
from ..evaluation import load_clips
from .evaluate import evaluate_vocoder, measure_outputs, measure_speed
from .kinds import (GENERATOR_KINDS, KINDS, CompareError, check_kinds, generator_kind_model,  # noqa: F401
                    kind_configs, kind_slug, recipe_config)
from .report import fmt, write_report
from .stages import Stage, budget_stage, is_budget, stage_dir, stage_words

MANIFEST = "compare.json"
FORMAT = "audioup-compare"
# settings that do not change what is measured (where it runs, how it reports)
NEUTRAL_KEYS = {("run_dir",), ("max_steps",), ("model", "upsampler"), ("train", "device"),
                ("train", "threads"), ("train", "progress"), ("data", "num_workers"),
                ("train", "log_interval")}


@dataclass
class Comparison:
    """What :func:`compare_upsamplers` measured.

    Attributes:
        out_dir: the comparison folder.
        config: the recipe file.
        kinds: upsampler kinds, in report order (those asked for, and those an earlier
            run evaluated in the same folder).
        stages: what was evaluated (:mod:`.stages`): training steps (0 = at initialisation),
            or a training-time budget ``"Mmin"``.
        results: ``{stage: {kind: record}}`` (see :func:`~.evaluate.measure_outputs`;
            plus ``kind``, ``step``, ``params``), or ``{"kind", "step", "error"}`` for a
            kind whose training failed.
        reference: the same reference-free metrics for the real test audio.
        speed: kind -> seconds of audio per second of compute on ``device`` (best round).
        speed_rounds: kind -> the speed of every timed round (the spread shows the load).
        info: setup facts for the report (generator, factors, test files, threads, ...).
        report: path of ``report.md`` once written.
    """

    out_dir: Path
    config: Path
    kinds: List[str]
    stages: List[Stage]
    results: Dict[Stage, Dict[str, dict]] = field(default_factory=dict)
    reference: dict = field(default_factory=dict)
    speed: Dict[str, float] = field(default_factory=dict)
    speed_rounds: Dict[str, List[float]] = field(default_factory=dict)
    info: dict = field(default_factory=dict)
    report: Optional[Path] = None

    def rows(self, step: Stage) -> List[dict]:
        """Records of one stage in kind order (kinds without a result left out)."""
        return [self.results[step][k] for k in self.kinds if k in self.results.get(step, {})]


def settings_of(cfg, test_files: Sequence[Path]) -> dict:
    """The settings that decide the results: the config without run-specific keys, and the test set."""
    data = to_dict(cfg)
    for keys in NEUTRAL_KEYS:
        node = data
        for k in keys[:-1]:
            node = node.get(k, {})
        node.pop(keys[-1], None)
    return {"config": data, "test_files": [str(p) for p in test_files]}


def _differences(old, new, prefix="") -> List[str]:
    if isinstance(old, dict) and isinstance(new, dict):
        out = []
        for k in sorted(set(old) | set(new)):
            out += _differences(old.get(k), new.get(k), f"{prefix}{k}.")
        return out
    return [] if old == new else [f"{prefix.rstrip('.')}: {old!r} -> {new!r}"]


def open_folder(out_dir: Path, config, settings: dict) -> None:
    """Create the comparison folder, or check that it holds a comparison of the same settings.

    Raises:
        CompareError: the folder holds something else or a comparison of other settings.
    """
    manifest = out_dir / MANIFEST
    if manifest.is_file():
        try:
            old = json.loads(manifest.read_text())
        except ValueError:
            raise CompareError(f"{manifest}: unreadable; remove the folder or choose another --out") from None
        if not isinstance(old, dict) or old.get("format") != FORMAT:
            raise CompareError(f"{manifest}: not an audioup comparison; choose another --out")
        diff = _differences(old.get("settings"), settings)
        if diff:
            more = f" (and {len(diff) - 3} more)" if len(diff) > 3 else ""
            raise CompareError(f"{out_dir} holds a comparison made with other settings, which "
                               f"this one would overwrite: {'; '.join(diff[:3])}{more}. "
                               "Choose another --out (or delete that folder)")
        return
    if out_dir.is_dir() and any(out_dir.iterdir()):
        raise CompareError(f"{out_dir}: exists and is not a comparison folder (no {MANIFEST}); "
                           "choose another --out")
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write(manifest, json.dumps({"format": FORMAT, "version": 1, "config": str(config),
                                    "created": time.strftime("%Y-%m-%d %H:%M:%S"),
                                    "settings": settings}, indent=1))


def default_test_files(cfg) -> List[str]:
    """``test.txt`` beside the training filelist (what the data scripts write), else ``data.valid_files``."""
    if cfg.data.filelist:
        beside = Path(cfg.data.filelist).parent / "test.txt"
        if beside.is_file():
            return [str(beside)]
    if cfg.data.valid_files:
        return list(cfg.data.valid_files)
    raise CompareError("no test set: pass --test with audio files, folders or a test.txt filelist")


def compare_upsamplers(config, out_dir, kinds: Sequence[str] = KINDS, steps: Optional[int] = None,
                       init: bool = True, trained: bool = True, overrides: Sequence[str] = (),
                       test_files: Optional[Sequence] = None, max_test_files: Optional[int] = None,
                       device: str = "cpu", speed: bool = True, pesq: bool = True,
                       periodicity: bool = True, report_text: Optional[dict] = None,
                       minutes: Optional[float] = None,
                       log: Callable[[str], object] = print) -> Comparison:
    """Train and evaluate one generator per upsampler kind; write ``out_dir/report.md``.

    Args:
        config: recipe YAML (see ``recipes/``).
        out_dir: comparison folder (created; reused when it holds the same settings).
        kinds: upsampler kinds or aliases (default: the five of :data:`KINDS`).
        steps: training steps per kind (default: the recipe's ``max_steps``); with ``minutes``
            an upper bound.
        minutes: train every kind for this much training time instead (``train.max_minutes``;
            the trained stage is then ``"Mmin"``, each kind at the step it reached).
        init: evaluate each kind at initialisation (step 0).
        trained: train each kind for ``steps`` and evaluate it.
        overrides: ``key=value`` settings applied to the recipe for every kind.
        test_files: audio files, folders or filelists to vocode (default:
            :func:`default_test_files`).
        max_test_files: use only the first N test files.
        device: where the evaluation and the speed measurement run.
        speed: measure inference speed.
        pesq: compute PESQ when the package is installed.
        periodicity: compute periodicity RMSE and V/UV F1 when torchcrepe is installed.
        report_text: optional ``{"title", "intro", "limits", "command"}`` for the report.
        log: receives one line per stage and kind.

    Returns:
        A :class:`Comparison`.

    Raises:
        CompareError, audioup.train.config.ConfigError, audioup.data.DataError.
    """
    out_dir, kinds = Path(out_dir).resolve(), check_kinds(kinds)
    _check_request(out_dir, init, trained, test_files)
    cfgs = kind_configs(config, out_dir, kinds, steps, overrides, minutes)
    first = recipe_config(config, steps, overrides, minutes)  # the recipe's own generator: settings, reference
    steps = budget_stage(minutes) if minutes else first.max_steps
    tests = collect_files(test_files if test_files else default_test_files(first))
    tests = tests[:max_test_files] if max_test_files else tests
    open_folder(out_dir, config, settings_of(first, tests))
    if trained:  # before report.md is rewritten: a stage that cannot be reached fails now
        for kind in kinds:
            _check_step_reachable(out_dir, cfgs[kind], kind, steps)

    comp = Comparison(out_dir, Path(config), kinds, ([0] if init else []) + ([steps] if trained else []))
    with cpu_threads(first.train.threads):
        clips = load_clips(tests, first.sample_rate, min_seconds=first.mel.hop_length * 16 / first.sample_rate,
                           max_seconds=3600.0, log=log)
        comp.reference = _reference(comp, clips, first)
        comp.info = _setup_info(first, clips, device, comp.reference["factors"])
        comp.info["generator_kinds"] = {k: _schedule_text(cfgs[k]) for k in kinds if k in GENERATOR_KINDS}
        for step in comp.stages:
            _evaluate_stage(comp, cfgs, step, clips, device, (pesq, periodicity), log)
            comp.report = write_report(comp, report_text or {})
        if speed:
            log("timing inference of every upsampler side by side")
            comp.speed = _speed(cfgs, clips[0], device, rounds=comp.speed_rounds)
            comp.report = write_report(comp, report_text or {})
    return comp


def _check_request(out_dir: Path, init: bool, trained: bool, test_files) -> None:
    """Refuse an empty request, a file as ``--out`` and overrides mistaken for test files."""
    if not (init or trained):
        raise CompareError("nothing to do: neither the initial nor the trained generators")
    if out_dir.exists() and not out_dir.is_dir():
        raise CompareError(f"{out_dir}: is a file, not a folder; choose another --out")
    for item in test_files or ():
        if "=" in str(item) and not Path(item).exists():
            raise CompareError(f"{item!r} is not a test file; key=value overrides go right after "
                               "CONFIG, before the options")


def _evaluate_stage(comp: Comparison, cfgs: dict, step: int, clips, device, optional, log) -> None:
    """Every kind at one stage into ``comp.results[step]``; a failed training run is recorded, not raised."""
    kinds = list(cfgs)  # those asked for (comp.kinds also lists those of earlier runs)
    what = stage_words(step)
    log(f"evaluating {len(kinds)} upsamplers {what} on {len(clips)} test clips")
    for i, kind in enumerate(kinds, 1):
        try:
            record = _stage_result(comp, cfgs[kind], kind, step, clips, device, optional,
                                   f"[{i}/{len(kinds)}] {kind}", log)
        except TrainingError as exc:  # e.g. a non-finite loss: report it, go on
            record = {"kind": kind, "step": step, "error": str(exc)}
            log(f"  [{i}/{len(kinds)}] {kind}: training failed: {exc}")
        comp.results.setdefault(step, {})[kind] = record
    _add_earlier_kinds(comp, step)


def _stage_result(comp, cfg, kind, step, clips, device, optional, label, log) -> dict:
    path = comp.out_dir / "results" / stage_dir(step) / f"{kind_slug(kind)}.json"
    if path.is_file():
        record = read_result(path)
        log(f"  {label}: reused {path.relative_to(comp.out_dir)}")
        return record
    start = time.perf_counter()
    extra = {"step": step}
    if step == 0:
        vocoder = initial_vocoder(cfg, device)
    elif is_budget(step):
        vocoder, extra = budget_vocoder(cfg, device, label, log)
    else:
        vocoder = trained_vocoder(cfg, step, device, label, log)
    record = evaluate_vocoder(vocoder, clips, comp.out_dir / "audio" / stage_dir(step) / kind_slug(kind),
                              pesq=optional[0], periodicity=optional[1])
    record.update(kind=kind, params=parameter_count(cfg), **extra)
    atomic_write(path, json.dumps(record))
    log(f"  {label}: tonal score {fmt(record['tonal_score_db'], '.1f')} dB, "
        f"mel L1 {fmt(record['mel_l1'], '.2f')} ({time.perf_counter() - start:.0f} s)")
    return record


def read_result(path: Path) -> dict:
    """A finished kind's result record (``results/step_*/KIND.json``), checked.

    Raises:
        CompareError: naming the file, when it is not JSON (truncated) or not a record.
    """
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        raise CompareError(f"{path}: unreadable result ({exc}); delete it to evaluate that kind "
                           "again") from None
    if not isinstance(record, dict):
        raise CompareError(f"{path}: not a result record (a JSON {type(record).__name__}); delete it "
                           "to evaluate that kind again")
    return record


def _add_earlier_kinds(comp: Comparison, step: int) -> None:
    """Results of kinds evaluated by an earlier run in this folder stay in the report."""
    folder = comp.out_dir / "results" / stage_dir(step)
    for path in sorted(folder.glob("*.json")):
        record = read_result(path)
        kind = record.get("kind")
        if kind and kind not in comp.results[step]:
            comp.results[step][kind] = record
    known = list(comp.kinds) + [k for k in comp.results[step] if k not in comp.kinds]
    order = {k: i for i, k in enumerate(KINDS + GENERATOR_KINDS)}
    comp.kinds = sorted(known, key=lambda k: (order.get(k, len(order)), known.index(k)))


def initial_vocoder(cfg, device="cpu"):
    """The generator a training run of ``cfg`` starts from (same seed), as a :class:`Vocoder`."""
    torch.manual_seed(cfg.seed)  # what audioup.train.loop.train does before building it
    return build_vocoder(generator_config(cfg), mel_settings(cfg), device=device)


def _check_step_reachable(out_dir: Path, cfg, kind: str, step: Stage) -> None:
    """Refuse a ``step`` whose checkpoint was pruned by a longer run (and has no stored result)."""
    if is_budget(step) or (out_dir / "results" / stage_dir(step) / f"{kind_slug(kind)}.json").is_file():
        return
    done = [s for s, _ in list_checkpoints(cfg.run_dir)]
    if done and step not in done and max(done) > step:
        raise _pruned(cfg.run_dir, step)


def _pruned(run_dir, step: int) -> CompareError:
    """The error for a ``step`` whose checkpoint a longer run of ``run_dir`` pruned."""
    kept = ", ".join(str(s) for s, _ in list_checkpoints(run_dir)) or "none"
    return CompareError(f"{run_dir}: no checkpoint at step {step} (kept: {kept}); it trained further "
                        "before and pruned it. Use --steps with a kept step or another --out")


def trained_vocoder(cfg, step: int, device, label: str, log):
    """Train (or resume) ``cfg`` up to ``step`` and load the checkpoint of that step."""
    run_dir = Path(cfg.run_dir)
    done = [s for s, _ in list_checkpoints(run_dir)]
    if step not in done:
        log(f"  {label}: training {step} steps (log: {run_dir / 'train.log'})")
        run_dir.mkdir(parents=True, exist_ok=True)
        with open(run_dir / "train.log", "a") as handle:
            train(cfg, log=lambda line: print(line, file=handle, flush=True))
    ckpt = checkpoint_path(run_dir, step)
    if not ckpt.is_file():
        raise _pruned(run_dir, step)
    return load_generator(ckpt, device=device)


def budget_vocoder(cfg, device, label: str, log):
    """Train (or resume) ``cfg`` until its ``train.max_minutes`` are spent; the newest checkpoint
    as a vocoder, and ``{"step", "train_minutes"}`` it reached."""
    run_dir = Path(cfg.run_dir)
    log(f"  {label}: training for {cfg.train.max_minutes:g} min (log: {run_dir / 'train.log'})")
    run_dir.mkdir(parents=True, exist_ok=True)
    with open(run_dir / "train.log", "a") as handle:
        train(cfg, log=lambda line: print(line, file=handle, flush=True))
    done = list_checkpoints(run_dir)
    if not done:
        raise CompareError(f"{run_dir}: training wrote no checkpoint (see {run_dir / 'train.log'})")
    step, path = done[-1]
    spent = torch.load(path, map_location="cpu", weights_only=True).get("train_seconds", 0.0)
    return load_generator(path, device=device), {"step": step, "train_minutes": float(spent) / 60.0}


def parameter_count(cfg) -> int:
    """Parameters of the generator as trained (weight norm included, as in recipes/README.md)."""
    return int(sum(p.numel() for p in build_generator_from(generator_config(cfg)).parameters()))


def _reference(comp: Comparison, clips, cfg) -> dict:
    factors = list(build_generator_from(generator_config(cfg)).upsample_factors)
    record = measure_outputs([c.samples for c in clips], cfg.sample_rate, factors,
                             names=[c.name for c in clips])
    record["factors"] = factors
    return record


def _schedule_text(cfg) -> str:
    """``"vocos preset base: upsampling 256 (the inverse STFT)"``, for the report's setup."""
    g = build_generator_from(generator_config(cfg))
    factors = "×".join(str(f) for f in g.upsample_factors)
    return f"`{cfg.model.generator}` preset `{cfg.model.preset}`, upsampling {factors} (the last: an inverse STFT)"


def _setup_info(cfg, clips, device, factors) -> dict:
    return {"generator": cfg.model.generator, "preset": cfg.model.preset,
            "factors": factors, "sample_rate": cfg.sample_rate, "batch_size": cfg.train.batch_size,
            "segment_length": cfg.data.segment_length, "seed": cfg.seed, "clock": cfg.train.clock,
            "test_files": [str(c.path) for c in clips],
            "test_seconds": sum(len(c.samples) for c in clips) / cfg.sample_rate,
            "device": str(device), "threads": torch.get_num_threads(),
            "torch": torch.__version__}


def _speed(cfgs: dict, clip, device, max_seconds: float = 2.0,
           rounds: Optional[Dict[str, List[float]]] = None) -> Dict[str, float]:
    vocoders = {kind: initial_vocoder(cfg, device) for kind, cfg in cfgs.items()}
    any_voc = next(iter(vocoders.values()))
    n = min(len(clip.samples), int(max_seconds * any_voc.sample_rate))
    n -= n % any_voc.hop_length
    mel = any_voc.mel(torch.from_numpy(clip.samples[:n]).to(any_voc.device).unsqueeze(0))
    return measure_speed({k: v.generator for k, v in vocoders.items()}, mel,
                         any_voc.sample_rate, any_voc.hop_length, repeats=5, rounds=rounds)
