"""recipes/gpu_check.py: refuses cleanly without CUDA; its CPU smoke mode trains, times and reports."""
from __future__ import annotations

import math
import re

import pytest
import torch



@pytest.fixture(scope="module")
def gpu_check(recipe_script):
    return recipe_script("gpu_check")


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when there is no GPU")
def test_refuses_without_cuda(gpu_check, tmp_path, capsys):
    code = gpu_check.main(["--out", str(tmp_path / "runs"), "--results", str(tmp_path / "R.md")])
    assert code == 2
    assert "no CUDA GPU available" in capsys.readouterr().err
    assert not (tmp_path / "R.md").exists() and not (tmp_path / "runs").exists()


def test_cpu_smoke_run_appends_a_section(gpu_check, tmp_path, capsys):
    torch.set_num_threads(1)
    results = tmp_path / "RESULTS.md"
    results.write_text("# Results\n")
    code = gpu_check.main(["--device", "cpu", "--steps", "2", "--warmup", "1", "--batch-size", "2",
                           "--kinds", "transposed", "sinc", "--out", str(tmp_path / "runs"),
                           "--corpus", str(tmp_path / "corpus"), "--results", str(results),
                           "model.preset=tiny", "data.segment_length=2048",
                           "model.discriminator_kwargs={mpd: {channels: [8, 16, 32, 64, 64]}, msd: {width: 0.0625}}"])
    printed = capsys.readouterr().out
    assert code == 0, printed
    text = results.read_text()
    assert text.startswith("# Results\n") and "## GPU check: CPU" in text
    rows = {line.split("|")[1].strip(): line.split("|")[2:-1] for line in text.splitlines()
            if line.startswith("| ") and line.split("|")[1].strip() in ("transposed", "sinc")}
    assert set(rows) == {"transposed", "sinc"}
    for kind, cells in rows.items():
        steps_per_s, tonal = float(cells[0]), float(cells[2])
        # a line-free output scores about 0 dB, a little under it as often as over (sinc read -0.1)
        assert steps_per_s > 0 and math.isfinite(tonal)
    # at a step this early the transposed layers' lines dominate, the sinc ones' do not
    assert float(rows["transposed"][2]) > float(rows["sinc"][2]) + 10
    assert re.search(r"transposed\s+[\d.]+ steps/s", printed)
