"""How much of the cost of replacing a vocoder's first upsampler is its within-frame pattern.

    python benchmarks/probe_position_code.py --converted RUN/checkpoints/ckpt_N.pt \
        --data TRAIN_FOLDER --test TEST_FOLDER [--alphas 0 0.5 1] [--kernel 65] [--json OUT]

Starts from a converted checkpoint whose first upsampler is still transposed (``audioup convert
--layers auto`` of V1 Universal keeps it), projects that layer onto resize-nearest too, and
measures on real speech (``--data``): the share of the original layer's output that is a fixed
pattern repeated at every input sample (:mod:`audioup.analysis.position`) and the share of the
projection's change that is such a pattern. Then it adds ``alpha`` times that pattern back after
the projected layer (a constant per channel and output phase: exactly what a resize layer cannot
make) and evaluates each alpha on the held-out ``--test`` clips with :mod:`audioup.evaluation`
(PESQ-WB, STOI, mel L1, lines over the real recordings). alpha 0 is the plain projection; a PESQ
that climbs with alpha while the lines come back says the later stages use the pattern as a clock.
Results of 2026-12-06 in benchmarks/RESULTS.md (issue 19).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from audioup.analysis.position import fixed_pattern_share  # noqa: E402
from audioup.audio.mel import MelSpectrogram  # noqa: E402
from audioup.evaluation import evaluate_vocoder, format_row, load_clips, summarize, table_header  # noqa: E402
from audioup.inference import build_vocoder  # noqa: E402
from audioup.models.checkpoint import read_generator  # noqa: E402
from audioup.models.convert import convert_generator  # noqa: E402
from audioup.models.resblocks import LRELU_SLOPE  # noqa: E402
from audioup.train.distill import draw_batch, load_training_audio  # noqa: E402


class WithPattern(nn.Module):
    """A layer followed by a fixed pattern of period ``pattern.shape[-1]`` per channel."""

    def __init__(self, inner: nn.Module, pattern: torch.Tensor):
        super().__init__()
        self.inner, self.pattern = inner, pattern

    def forward(self, x):
        y = self.inner(x)
        return y + self.pattern[:, torch.arange(y.shape[-1]) % self.pattern.shape[-1]].unsqueeze(0)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--converted", required=True, help="a converted checkpoint with layer 0 still transposed")
    p.add_argument("--data", nargs="+", required=True, help="real speech for the measurement")
    p.add_argument("--test", nargs="+", required=True, help="held-out clips for the evaluation")
    p.add_argument("--alphas", nargs="+", type=float, default=[0.0, 0.25, 0.5, 0.75, 1.0])
    p.add_argument("--kernel", type=int, default=65, help="kernel of the projected first layer")
    p.add_argument("--batches", type=int, default=6, help="batches of 8 x 3 s for the measurement")
    p.add_argument("--json", help="write the rows here")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    converted = read_generator(args.converted)
    config, state, reps = convert_generator(converted, "resize-nearest", [0], {0: args.kernel})
    source = {"generator_config": converted["generator_config"], "generator": converted["generator"]}
    original = build_vocoder(source["generator_config"], converted["mel"], source["generator"]).generator
    projected = build_vocoder(config, converted["mel"], state).generator
    factor = int(config["kwargs"].get("upsample_factors", (8,))[0])
    mel = MelSpectrogram(**converted["mel"])
    clips = load_training_audio(args.data, mel.sample_rate, log=lambda *_: None)
    total, outputs, diffs = 0, [], []
    with torch.no_grad():
        for i in range(args.batches):
            x = F.leaky_relu(original.conv_pre(mel(draw_batch(clips, 8, 65536, 100 + i))), LRELU_SLOPE)
            y, z = original.upsamplers[0](x), projected.upsamplers[0](x)
            outputs.append(y)
            diffs.append(y - z)
            n = y.shape[-1] // factor * factor
            d = (y - z)[..., :n].reshape(y.shape[0], y.shape[1], -1, factor)
            total = total + d.sum(dim=(0, 2))
    frames = sum(d.shape[0] * (d.shape[-1] // factor) for d in diffs)
    pattern = total / frames  # the mean change per channel and output phase
    print(f"layer 0 projection residual (weights): {100 * reps[0].residual_energy:.1f} %")
    print(f"fixed pattern in the original layer's output on real speech: "
          f"{100 * fixed_pattern_share(outputs, factor):.1f} %")
    change = sum(float(d.pow(2).sum()) for d in diffs)
    print(f"share of the projection's change that is a constant per channel and phase: "
          f"{100 * float(pattern.pow(2).sum()) * frames / change:.1f} %")
    test = load_clips(args.test, mel.sample_rate, log=lambda *_: None)
    print(table_header())
    rows = {}
    for alpha in args.alphas:
        vocoder = build_vocoder(config, converted["mel"], state)
        if alpha:
            vocoder.generator.upsamplers[0] = WithPattern(vocoder.generator.upsamplers[0], alpha * pattern)
        rows[f"alpha {alpha:g}"] = summarize(evaluate_vocoder(vocoder, test))
        print(format_row(f"alpha {alpha:g}", rows[f"alpha {alpha:g}"]), flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(rows, indent=1, default=float) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
