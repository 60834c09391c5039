"""`audioup train` into a log (no terminal) prints a loss line every train.log_interval steps;
on a terminal the losses go to the progress bar instead (issue 23, P9)."""
from __future__ import annotations

import io
import re
from pathlib import Path

from tqdm import tqdm

from audioup.train import loop
from audioup.train.config import load_config
from audioup.train.loop import train

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml"
LOSS_LINE = re.compile(r"^step (\d+): g [\d.e+-]+, d [\d.e+-]+, mel_l1 [\d.e+-]+, [\d.e+-]+ steps/s$")


def _run(run_dir, lines):
    cfg = load_config(TINY, [f"run_dir={run_dir}", "data.segment_length=1024", "max_steps=4",
                             "train.log_interval=2", "train.validation_interval=1000",
                             "train.checkpoint_interval=1000"])
    train(cfg, log=lines.append)
    return [int(m.group(1)) for m in map(LOSS_LINE.match, lines) if m]


def test_off_a_terminal_a_loss_line_every_log_interval(tmp_path):
    lines = []  # pytest's stderr is no terminal: the bar is not drawn
    assert _run(tmp_path / "run", lines) == [2, 4], lines


def test_on_a_terminal_the_bar_carries_the_losses(tmp_path, monkeypatch):
    drawn = io.StringIO()
    monkeypatch.setattr(loop, "progress_bar", lambda **kw: tqdm(file=drawn, disable=False, mininterval=0, **kw))
    lines = []
    assert _run(tmp_path / "run", lines) == [], lines
    assert "mel=" in drawn.getvalue()  # the postfix of the drawn bar
