"""``audioup demo`` (``make demo``): the whole story offline on a CPU.

Builds the embedded corpus from the bundled speech (:mod:`audioup.data.corpus`),
then runs :func:`audioup.compare.compare_upsamplers` with ``recipes/demo.yaml``
(a tiny HiFi-GAN): every upsampler kind at initialisation, then after a short
CPU training, and writes ``OUT/report.md`` with its figures. Everything it
generates goes beside or under ``OUT`` (the corpus in ``corpus/`` next to
``OUT``, shared by demos with the same parent folder), never into the folder the
package is installed from. Running it again reuses what is finished.
"""
from __future__ import annotations

import argparse
import sys
from importlib import resources
import time
from pathlib import Path

from ..errors import CommandError

# compare, train and data import torch: they are imported inside the functions below, so that
# `audioup demo --help` stays as light as `audioup --help`.

# package data (pyproject.toml): in a clone, links to recipes/demo.yaml (which extends tiny.yaml and
# base.yaml) and data/cmu_arctic/; in an installed package, copies of them. Resolved: the clone's file.
RECIPE = Path(str(resources.files("audioup") / "assets" / "recipes" / "demo.yaml")).resolve()


TITLE = "audioup demo: tonal artifacts of upsampling layers in a tiny vocoder"

ABOUT = """\
The same small HiFi-GAN generator is built with each of five upsampling layers
(transposed convolution, nearest / linear resize + convolution, sub-pixel with ICNR,
sinc interpolation + convolution), evaluated at initialisation, trained for {steps} steps
on CPU, and evaluated again: tonal score (spectral lines at the frequencies the layers
predict), distances to the real audio, PESQ (when `pesq` is installed: `make test` or
`pip install 'audioup[metrics]'`), speed. Offline, on CPU."""

LIMITS = """\
**What it can show.** Where each kind puts spectral lines *before any training*, and how
strong they start: the effect Pons et al. describe, which comes from the layers' structure,
not from the data or the size of the model. Transposed convolutions start with strong lines
at multiples of every layer's input rate; nearest resize and sub-pixel with ICNR start nearly
free of them. It also shows what the first {steps} steps do to the lines. In the runs made
while building this demo, sub-pixel's lines appeared within the first optimizer steps (ICNR
ties its phases only at initialisation), the transposed lines grew stronger still, and nearest
resize stayed far below both; "In short" above gives this run's numbers.

**What it cannot show.** Which upsampler makes the better vocoder. This is a {params}-parameter
generator trained for {steps} steps (batch {batch} of {segment} samples) on {train_s:.0f} s of one
speaker; HiFi-GAN trains 14M parameters for 2.5M steps on 24 h of speech. No output here is a
usable vocoder (see the distances and, when measured, PESQ), so the distances and PESQ after training say
how fast each kind starts to learn, not where it ends up. A low tonal score is only good news
for an output that has content where the lines would be: the band-limited upsamplers (linear
resize, sinc) start with almost nothing above a few hundred Hz and fill their high bands
slowly (see the level column and the spectra), so their low scores after {steps} steps say
little. The test clips are the two original utterances whose augmented copies form the
training set, so nothing here measures generalisation. Speed is this machine's CPU on a tiny
model; GPU throughput of full-size models differs (`recipes/gpu_check.py`). For conclusions,
run `audioup compare` with a recipe of `recipes/ljspeech/` on a GPU."""


def register(subparsers, help_line: str) -> None:
    p = subparsers.add_parser(
        "demo", help=help_line, formatter_class=argparse.RawDescriptionHelpFormatter,
        description=__doc__.split("\n\n")[0].replace("``", "") + "\n\nWrites OUT/report.md "
        "(tables, spectra, per-layer figures) and prints the table.")
    p.add_argument("--out", default="runs/demo", metavar="DIR", help="output folder (default runs/demo)")
    p.add_argument("--steps", type=int, metavar="N",
                   help="training steps per upsampler kind (default: recipes/demo.yaml, 150)")
    p.add_argument("--corpus", metavar="DIR",
                   help="where the embedded corpus is built (default: corpus beside OUT, e.g. runs/corpus)")
    p.add_argument("--quick", action="store_true", help=argparse.SUPPRESS)  # tests: 2 steps
    p.set_defaults(func=run)


def say(line: str = "") -> None:
    print(line, flush=True)


def run(args) -> int:
    from ..audio.fs import file_in_the_way
    from ..compare import CompareError, compare_upsamplers
    from ..compare.runner import parameter_count
    from ..data.dataset import DataError
    from ..train.config import ConfigError, load_config

    start = time.perf_counter()
    if not RECIPE.is_file():
        raise CommandError(f"{RECIPE}: demo recipe not found: the package is incomplete (reinstall audioup)")
    steps = 2 if args.quick and args.steps is None else args.steps
    if steps is not None and steps < 1:
        raise CommandError("--steps must be >= 1")
    steps = steps or load_config(RECIPE, for_run=False).max_steps
    out = Path(args.out)
    corpus_dir = Path(args.corpus) if args.corpus else out.parent / "corpus"
    for option, folder in (("--out", out), ("--corpus", corpus_dir)):  # refused before any work
        blocker = file_in_the_way(folder)
        if blocker is not None:
            raise CommandError(f"{option} {folder}: {blocker} is a file, not a folder")
    if corpus_dir.resolve() == out.resolve():  # refused before the corpus is built into it
        raise CommandError(f"--out {out} is the corpus folder; give the report a folder of its own")

    say(TITLE)
    say("=" * len(TITLE))
    say(ABOUT.format(steps=steps))
    say(f"Report: {out / 'report.md'}\n")
    header = _Stages(total=4)
    corpus = _corpus(corpus_dir, header)

    def log(line: str) -> None:  # compare's stage lines start unindented
        if line.startswith("evaluating") or line.startswith("timing"):
            header(line)
        else:
            say("  " + line)

    overrides = [f"data.filelist={corpus.filelists['train']}",
                 f"data.valid_files=[{corpus.filelists['val']}]"]
    try:
        cfg = load_config(RECIPE, overrides, for_run=False)
        text = _report_text(args, steps, cfg, parameter_count(cfg), corpus)
        comp = compare_upsamplers(RECIPE, out, steps=steps, overrides=overrides,
                                  test_files=[corpus.filelists["test"]], report_text=text, log=log,
                                  periodicity=False)  # torchcrepe: ~5 s of CPU per second of audio
    except (CompareError, ConfigError, DataError, ValueError) as exc:
        raise CommandError(str(exc)) from None
    return _summary(comp, out, time.perf_counter() - start)


class _Stages:
    """Prints ``[i/total] text`` headers, counting up."""

    def __init__(self, total: int):
        self.done, self.total = 0, total

    def __call__(self, text: str) -> None:
        self.done += 1
        say(f"[{self.done}/{self.total}] {text}")


def _corpus(corpus_dir: Path, header: _Stages):
    """Build (or reuse) the embedded corpus, printing its summary."""
    from ..data.corpus import build_corpus

    header(f"embedded corpus: augmented clips of the bundled CMU ARCTIC speech -> {corpus_dir} "
           f"(built once, reused afterwards; up to a minute on a busy 2-core CPU)")
    t0 = time.perf_counter()
    try:
        corpus = build_corpus(corpus_dir, progress=True)
    except (FileExistsError, FileNotFoundError) as exc:
        raise CommandError(f"{exc} (pass --corpus DIR for another place)") from None
    say(f"      {corpus.summary()} ({time.perf_counter() - t0:.0f} s)")
    return corpus


def _report_text(args, steps: int, cfg, params: int, corpus) -> dict:
    """Title, introduction, limits and command line of the demo's report."""
    from ..compare.report import INTRO

    return {"title": TITLE,
            "intro": INTRO + "\n\n" + ABOUT.format(steps=steps).replace("\n", " "),
            "limits": LIMITS.format(steps=steps, params=f"{params / 1e3:.0f}k",
                                    batch=cfg.train.batch_size, segment=cfg.data.segment_length,
                                    train_s=corpus.seconds("train")),
            "command": f"audioup demo --out {args.out}" + (f" --steps {steps}" if args.steps else "")}


def _summary(comp, out: Path, elapsed: float) -> int:
    """Print each stage's table and where the report and audio are; 1 if a training run failed."""
    from ..compare.report import table, text_table
    from ..compare.stages import stage_title

    for step in comp.stages:
        say(f"\n{stage_title(step)}:")
        say(text_table(table(comp, step)))
    say(f"\nReport: {comp.report}  (figures: spectra.png, per_layer.png)")
    say(f"Listen: {out / 'audio'}/step_*/KIND/*.wav")
    say(f"Done in {elapsed // 60:.0f} min {elapsed % 60:02.0f} s.")
    failed = [r for s in comp.stages for r in comp.rows(s) if "error" in r]
    if failed:
        print(f"audioup demo: {len(failed)} training run(s) failed; see the report", file=sys.stderr)
        return 1
    return 0
