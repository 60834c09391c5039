"""``audioup convert``: layer choice from measured lines, the resumable fine-tune, the report, round trips."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch

REPO = Path(__file__).resolve().parents[2]
CLIPS = REPO / "data" / "cmu_arctic"


def _tied_source(weights, config, lined: int):
    """The tiny official generator with every layer but ``lined`` made line-free: a kernel constant
    over its taps has equal polyphase sums, so it turns a constant into a constant."""
    from audioup.models.checkpoint import read_generator

    source = read_generator(weights, config=config)
    state = dict(source["generator"])
    for key, value in state.items():
        if key.startswith("upsamplers.") and key.endswith("original1") and int(key.split(".")[1]) != lined:
            state[key] = value.mean(dim=-1, keepdim=True).expand_as(value).clone()
    return {**source, "generator": state}


def test_auto_replaces_the_layer_that_makes_the_lines_and_says_why(official_tiny):
    from audioup.compare.plan import plan_conversion
    from audioup.evaluation import load_clips

    weights, config, _ = official_tiny
    source = _tied_source(weights, config, lined=2)
    clips = load_clips([CLIPS], source["mel"]["sample_rate"], log=lambda *_: None)
    plan = plan_conversion(source, "resize-nearest", "auto", calibration=clips, log=lambda *_: None,
                           cheap_first=False)
    assert plan["layers"] == [2]
    original = plan["trials"][0]
    assert original["layers"] == [] and original["worst_line_over_real_db"] > 3.0
    assert plan["records"][2]["converted"] and "lowers the strongest line" in plan["records"][2]["reason"]
    assert all(not r["converted"] and r["reason"].startswith("kept") for r in plan["records"][:2])
    # measured on the calibration clips: the tied layers repeat no pattern at their input rate, the
    # lined one does (the fixed pattern that no resize layer makes)
    shares = [r["position_code_share"] for r in plan["records"]]
    assert max(shares[:2]) < 1e-3 and shares[2] > 0.1
    # the line-free layers were tried and found not to help: replacing layer 0 alone leaves the line
    alone = [t for t in plan["trials"] if t["layers"] == [0]]
    assert alone and alone[0]["worst_line_over_real_db"] > 3.0
    first_round = {tuple(t["layers"]): t["worst_line_over_real_db"] for t in plan["trials"][1:4]}
    assert set(first_round) == {(0,), (1,), (2,)}
    assert first_round[(2,)] < min(first_round[(0,)], first_round[(1,)]) - 1.0
    assert first_round[(2,)] < original["worst_line_over_real_db"] - 1.0


def test_auto_replaces_cheap_comb_making_layers_first_and_keeps_flat_ones(official_tiny, monkeypatch):
    from audioup.compare import plan as conversion
    from audioup.evaluation import load_clips

    weights, config, _ = official_tiny
    source = _tied_source(weights, config, lined=2)
    clips = load_clips([CLIPS], source["mel"]["sample_rate"], log=lambda *_: None)
    # the tiny model's lined layer keeps 91 % at its longest kernel: call that cheap here
    monkeypatch.setattr(conversion, "CHEAP_RESIDUAL", 0.10)
    plan = conversion.plan_conversion(source, "resize-nearest", "auto", calibration=clips, log=lambda *_: None)
    records = plan["records"]
    # the tied layers make no comb; the lined one does
    assert all(r["checkerboard_db"] < conversion.FLAT_COMB_DB for r in records[:2])
    assert records[2]["checkerboard_db"] > -40
    # the cheap comb-making layer goes in one step, before any greedy trial, and the record says so
    assert plan["layers"] == [2] and records[2]["reason"].startswith("cheap")
    assert [t["layers"] for t in plan["trials"][:2]] == [[], [2]]
    assert plan["trials"][1]["worst_line_over_real_db"] < plan["trials"][0]["worst_line_over_real_db"] - 20
    # the flat layers are kept, and say why (a line-free kernel has nothing to remove)
    assert all(not r["converted"] and "makes no comb" in r["reason"] for r in records[:2])


def test_auto_keeps_a_layer_whose_replacement_costs_too_much_quality(official_tiny, monkeypatch):
    from audioup.compare import plan as conversion
    from audioup.evaluation import load_clips

    weights, config, _ = official_tiny
    source = _tied_source(weights, config, lined=2)
    clips = load_clips([CLIPS], source["mel"]["sample_rate"], log=lambda *_: None)
    free = conversion.plan_conversion(source, "resize-nearest", "auto", calibration=clips, log=lambda *_: None,
                                      cheap_first=False)
    original, with_2 = free["trials"][0], next(t for t in free["trials"] if t["layers"] == [2])
    assert free["layers"] == [2]
    rise = with_2["mel_l1"] / original["mel_l1"]
    # allow a little less than the mel L1 rise the lined layer's replacement costs: it stays
    monkeypatch.setattr(conversion, "MAX_MEL_RISE", rise * 0.9)
    plan = conversion.plan_conversion(source, "resize-nearest", "auto", calibration=clips, log=lambda *_: None,
                                      cheap_first=False)
    assert plan["layers"] == []
    reason = plan["records"][2]["reason"]
    assert reason.startswith("kept: replacing it would lower the strongest line")
    assert f"{with_2['mel_l1']:.3f}" in reason and f"{original['mel_l1']:.3f}" in reason


def test_kernel_ladder_stops_at_the_first_length_within_the_residual_target(official_tiny):
    from audioup.compare.plan import RESIDUAL_TARGET, choose_kernels
    from audioup.models.checkpoint import read_generator

    weights, config, _ = official_tiny
    source = read_generator(weights, config=config)
    chosen = choose_kernels(source, "resize-nearest", [0, 1, 2])
    for layer in chosen.values():
        residuals = [t["residual_energy"] for t in layer["tried"]]
        assert all(r > RESIDUAL_TARGET for r in residuals[:-1])  # every shorter one missed the target
        assert residuals == sorted(residuals, reverse=True)  # a longer kernel keeps more
    fixed = choose_kernels(source, "resize-nearest", [1], fixed={1: 33})
    assert fixed[1]["kernel_size"] == 33 and len(fixed[1]["tried"]) == 1


def _convert(weights, config, out, *extra, env=None):
    return subprocess.Popen(
        [sys.executable, "-m", "audioup", "convert", "--checkpoint", str(weights), "--config", str(config),
         "--to", "resize-nearest", "--layers", "1,2", "--out", str(out), "--data", str(CLIPS),
         "--budget-minutes", "60", "--max-steps", "12", "--save-every", "0", "--no-eval", "--quiet", *extra],
        cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)


@pytest.mark.slow
def test_fine_tune_resumes_bit_exact_after_sigkill(official_tiny, tmp_path):
    from audioup.models.checkpoint import list_checkpoints

    weights, config, _ = official_tiny
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "PYTHONPATH": str(REPO)}
    whole = _convert(weights, config, tmp_path / "whole", env=env)
    assert whole.wait(timeout=600) == 0, whole.stdout.read()
    killed = _convert(weights, config, tmp_path / "killed", env=env)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        steps = [s for s, _ in list_checkpoints(tmp_path / "killed")]
        if steps and 3 <= max(steps) < 12:
            break
        time.sleep(0.05)
    os.kill(killed.pid, signal.SIGKILL)
    killed.wait()
    stopped_at = max(s for s, _ in list_checkpoints(tmp_path / "killed"))
    assert stopped_at < 12, "the run ended before it could be killed"
    resumed = _convert(weights, config, tmp_path / "killed", env=env)
    out = resumed.stdout.read()
    assert resumed.wait(timeout=600) == 0, out
    assert "resuming" in out
    a = torch.load(list_checkpoints(tmp_path / "whole")[-1][1], weights_only=True)
    b = torch.load(list_checkpoints(tmp_path / "killed")[-1][1], weights_only=True)
    assert a["step"] == b["step"] == 12
    # by default the loss leaves out the band TOP_BAND_HZ under Nyquist (the Nyquist line's sidebands)
    from audioup.train.distill import TOP_BAND_HZ
    assert a["distill"]["identity"]["top_hz"] == a["sample_rate"] / 2 - TOP_BAND_HZ > 0
    for key, value in a["generator"].items():
        assert torch.equal(value, b["generator"][key]), key
    # only the converted stages learned; the rest is the source's, to the bit
    c = torch.load(list_checkpoints(tmp_path / "whole")[0][1], weights_only=True)
    changed = {k for k, v in a["generator"].items() if not torch.equal(v, c["generator"][k])}
    assert changed and all(k.split(".")[0] in ("upsamplers", "mrfs", "conv_post") for k in changed)
    assert not any(k.startswith(("conv_pre.", "upsamplers.0.", "mrfs.0.")) for k in changed)


def test_convert_report_and_round_trips(official_tiny, tmp_path):
    from audioup.cli import main
    from audioup.inference import load_generator
    from audioup.models.checkpoint import checkpoint_path

    weights, config, generator = official_tiny
    out = tmp_path / "converted"
    assert main(["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "resize-linear",
                 "--layers", "2", "--kernel-size", "2:9", "--out", str(out), "--quiet",
                 "--test", str(CLIPS / "arctic_a0009.wav")]) == 0
    report = json.loads((out / "convert.json").read_text())
    records = report["plan"]["records"]
    assert [r["converted"] for r in records] == [False, False, True]
    assert records[2]["kernel_size"] == 9 and 0 < records[2]["residual_energy"] < 1
    rows = report["evaluation"]["rows"]
    assert set(rows) == {"original", "projection"}
    for row in rows.values():
        summary = row["summary"]
        for key in ("pesq_wb", "stoi", "mel_l1", "mrstft", "line_over_real_db", "worst_line_over_real_db"):
            assert key in summary
        assert summary["mel_l1"] > 0 and summary["clips"] == 1
    assert rows["original"]["summary"]["mel_l1"] != rows["projection"]["summary"]["mel_l1"]
    vocoder = load_generator(out)
    assert vocoder.generator.upsampler_label == "transposed+transposed+resize-linear"
    mel = torch.randn(1, 80, 6)
    with torch.no_grad():
        assert vocoder.generator(mel).shape == generator(mel).shape
    # analyze reads it
    assert main(["analyze", "--checkpoint", str(out), "--mel-from", str(CLIPS / "arctic_a0009.wav")]) == 0
    # no silent overwrite; the source is never the output
    assert main(["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "resize-linear",
                 "--layers", "all", "--out", str(out), "--no-eval"]) == 1
    assert main(["convert", "--checkpoint", str(out), "--to", "resize-nearest", "--out", str(out),
                 "--force", "--no-eval"]) == 1
    # --force leaves the new conversion the only one to find
    checkpoint_path(out, 500).write_bytes(checkpoint_path(out, 0).read_bytes())
    assert main(["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "resize-nearest",
                 "--layers", "all", "--out", str(out), "--force", "--no-eval"]) == 0
    assert load_generator(out).generator.upsampler_label == "resize-nearest"
    assert not checkpoint_path(out, 500).exists()


def test_convert_refuses_a_training_run_and_bad_options(official_tiny, tmp_path, capsys):
    from audioup.cli import main

    weights, config, _ = official_tiny
    run = tmp_path / "run"
    run.mkdir()
    (run / "train.lock").write_text("123\n")
    base = ["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "resize-nearest", "--no-eval"]
    assert main(base + ["--out", str(run), "--force"]) == 1
    assert "holds a training run" in capsys.readouterr().err
    assert (run / "train.lock").read_text() == "123\n"
    for bad in (["--layers", "x"], ["--layers", "7"], ["--kernel-size", "200000"], ["--kernel-size", "1:a"],
                ["--budget-minutes", "-1"], ["--notch-hz", "-5"], ["--line-weight", "nan"], ["--loss-top-hz", "-1"], ["--wave-weight", "-1"],
                ["--lr", "0"], ["--lr", "nan"]):
        assert main(base + ["--out", str(tmp_path / "o"), *bad]) == 1, bad
        err = capsys.readouterr().err
        assert "error" in err and "Traceback" not in err


def test_converted_run_starts_a_training_run(official_tiny, tmp_path):
    from audioup.cli import main
    from audioup.data.corpus import build_corpus
    from audioup.train.config import load_config
    from audioup.train.loop import train

    weights, config, _ = official_tiny
    out = tmp_path / "converted"
    assert main(["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "resize-nearest",
                 "--layers", "all", "--out", str(out), "--no-eval"]) == 0
    corpus = build_corpus(tmp_path / "corpus", variants=2, n_val=1, progress=False)
    cfg = load_config(REPO / "recipes" / "finetune" / "hifigan_universal.yaml", [
        "model.upsampler=resize-nearest", f"run_dir={tmp_path / 'run'}", "model.preset=tiny",
        "model.discriminator_kwargs={mpd: {channels: [8, 16, 32, 64, 64]}, msd: {width: 0.0625}}",
        "max_steps=1", "train.batch_size=1", "data.segment_length=2048", f"data.filelist={corpus.filelists['train']}",
        f"data.valid_files=[{corpus.filelists['val']}]", "data.valid_seconds=0.5", "train.device=cpu",
        "train.progress=false", "train.validation_interval=100", "train.threads=1", f"init_from={out}",
        "train.discriminator_warmup=0"])
    lines = []
    train(cfg, log=lines.append)
    from audioup.inference import load_generator

    trained = load_generator(tmp_path / "run")
    assert trained.step == 1 and trained.generator.upsampler_label == "resize-nearest"


def test_compare_from_a_released_vocoder_gives_every_kind_a_row(official_tiny, tmp_path, capsys):
    from audioup.cli import main

    weights, config, _ = official_tiny
    out = tmp_path / "cmp"
    assert main(["compare", "--from", str(weights), "--out", str(out), "--kinds", "resize-nearest", "subpixel",
                 "istftnet", "--budget-minutes", "0.02", "--data", str(CLIPS), "--test", str(CLIPS / "arctic_a0009.wav"),
                 "--quiet"]) == 0
    report = json.loads((out / "report.json").read_text())
    assert report["original"]["clips"] == 1 and report["original"]["mel_l1"] > 0
    nearest = report["kinds"]["resize-nearest"]
    assert nearest["layers"] == [0, 1, 2]
    assert nearest["projection"]["step"] == 0 and nearest["fine-tuned"]["step"] >= 1
    # plain sub-pixel can hold the trained kernels exactly (lines and all): nothing is dropped
    assert all(v < 1e-9 for v in report["kinds"]["subpixel"]["residual_energy"].values())
    assert all(v > 0.01 for v in nearest["residual_energy"].values())
    table = (out / "report.md").read_text()
    assert "resize-nearest (layers 0,1,2), fine-tuned" in table and "subpixel (layers 0,1,2), projection" in table
    assert (out / "report.png").stat().st_size > 1000
    # the iSTFT head has its place beside the upsampler kinds: the last layer gives way to it
    head = report["kinds"]["istftnet"]
    assert head["layers"] == [2] and head["fine-tuned"]["step"] >= 1 and head["fine-tuned"]["mel_l1"] > 0
    assert "istftnet (layers 2), fine-tuned" in table
    assert "resize-nearest (layers 0,1,2), projection" in capsys.readouterr().out


def test_calibration_files_spread_over_the_data_and_skip_short_ones(tmp_path):
    import numpy as np
    import soundfile as sf

    from audioup.compare.conversion import CALIBRATION_FILES, calibration_files

    sr = 16000
    for k in range(4 * CALIBRATION_FILES):
        seconds = 1.0 if k % 4 == 0 else 3.0  # every fourth file too short to calibrate on
        sf.write(tmp_path / f"spk{k // 4:02d}_{k % 4}.wav", np.full(int(seconds * sr), 0.1, np.float32), sr)
    picked = calibration_files([tmp_path])
    assert len(picked) == CALIBRATION_FILES
    assert all(not p.stem.endswith("_0") for p in picked)  # the 1 s files are left out
    speakers = {p.stem.split("_")[0] for p in picked}
    assert len(speakers) == CALIBRATION_FILES  # one per speaker, not the first speaker's files


def test_a_released_vocoder_converts_to_an_istft_head_and_fine_tunes_its_last_stage(official_tiny, tmp_path):
    from audioup.cli import main
    from audioup.inference import load_generator
    from audioup.models.checkpoint import list_checkpoints

    weights, config, _ = official_tiny
    out = tmp_path / "head"
    assert main(["convert", "--checkpoint", str(weights), "--config", str(config), "--to", "istftnet",
                 "--out", str(out), "--data", str(CLIPS), "--budget-minutes", "60", "--max-steps", "3",
                 "--lr", "2e-4", "--quiet", "--test", str(CLIPS / "arctic_a0009.wav")]) == 0
    report = json.loads((out / "convert.json").read_text())
    assert report["label"].startswith("iSTFTNet head") and report["plan"]["layers"] == [2]
    records = report["plan"]["records"]
    assert [r["converted"] for r in records] == [False, False, True]
    assert "inverse STFT" in records[2]["replaced_by"] and "trunk" in records[0]["reason"]
    assert set(report["evaluation"]["rows"]) == {"original", "projection", "fine-tuned (3 steps)"}
    found = list_checkpoints(out)
    first, last = (torch.load(p, weights_only=True) for _, p in (found[0], found[-1]))
    identity = last["distill"]["identity"]
    # the stage before the head learns too; the head, new, learns faster
    assert identity["first_layer"] == 1 and identity["fresh"] == ["conv_post."] and identity["lr"] == 2e-4
    changed = {k for k, v in last["generator"].items() if not torch.equal(v, first["generator"][k])}
    assert changed and all(k.startswith(("upsamplers.1.", "mrfs.1.", "conv_post.")) for k in changed)
    assert any(k.startswith("conv_post.") for k in changed) and any(k.startswith("mrfs.1.") for k in changed)
    vocoder = load_generator(out)
    assert type(vocoder.generator).__name__ == "ISTFTNet" and vocoder.step == 3
    assert main(["analyze", "--checkpoint", str(out), "--mel-from", str(CLIPS / "arctic_a0009.wav")]) == 0
