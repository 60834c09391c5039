"""recipes/gpu_compare.py: the step plan fits the budget, held-out clips, the bundle's size, no-GPU refusal."""
from __future__ import annotations


import pytest
import torch



@pytest.fixture(scope="module")
def gc(recipe_script):
    return recipe_script("gpu_compare")


def test_plan_fits_the_budget(gc):
    budget, elapsed, eval_s, step_s, kinds = 480.0, 60.0, 6.0, 0.1, 5
    steps = gc.plan_steps(budget, elapsed, eval_s, step_s, kinds, done_steps=25)
    spent = elapsed + kinds * (eval_s + 5.0) + (kinds * steps - 25) * step_s
    assert spent <= budget * 0.85 + 1e-6 and spent > budget * 0.85 - kinds * step_s  # uses what is left
    # a budget already spent: no more than the steps done
    assert gc.plan_steps(100.0, 200.0, eval_s, step_s, kinds, done_steps=25) == 25


def test_test_clips_are_held_out_characters_spread_over_the_list(gc, tmp_path):
    names = [f"wavs/festvox-ru/ru_{i}.ogg" for i in range(5)] + [f"wavs/fillets/l{i}/x.ogg" for i in range(10)]
    (tmp_path / "test.txt").write_text("\n".join(names) + "\n")
    chosen = gc.held_out_tests(tmp_path, 4)
    assert [p.relative_to(tmp_path).as_posix() for p in chosen] == [
        "wavs/fillets/l0/x.ogg", "wavs/fillets/l3/x.ogg", "wavs/fillets/l6/x.ogg", "wavs/fillets/l9/x.ogg"]


def test_bundle_keeps_the_report_and_few_wavs_and_checks_size(gc, tmp_path):
    out = tmp_path / "cmp"
    for rel, size in [("report.md", 10), ("spectra.png", 10), ("results/step_00000000/sinc.json", 10),
                      ("runs/sinc/checkpoints/ckpt_00000010.pt", 5000)] + [
                      (f"audio/step_00000010/sinc/c{i}.wav", 100) for i in range(5)]:
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(b"x" * size)
    mb = gc.bundle(out, tmp_path / "b")
    files = sorted(p.relative_to(tmp_path / "b").as_posix() for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files == ["audio/step_00000010/sinc/c0.wav", "audio/step_00000010/sinc/c1.wav", "report.md",
                     "results/step_00000000/sinc.json", "spectra.png"]
    assert mb == pytest.approx(230 / 1e6)
    with pytest.raises(RuntimeError, match="over"):
        gc.bundle(out, tmp_path / "c", limit_mb=1e-4)


@pytest.mark.skipif(torch.cuda.is_available(), reason="checks the message shown when there is no GPU")
def test_refuses_without_cuda_and_without_data(gc, tmp_path, capsys):
    assert gc.main(["--data", str(tmp_path), "--out", str(tmp_path / "o")]) == 2
    assert "no CUDA GPU" in capsys.readouterr().err
    assert gc.main(["--data", str(tmp_path), "--device", "cpu", "--out", str(tmp_path / "o")]) == 2
    assert "train.txt not found" in capsys.readouterr().err and not (tmp_path / "o").exists()


def test_results_section_names_the_threads_and_the_step0_levels(gc, tmp_path):
    import numpy as np
    import soundfile as sf

    from audioup.compare.runner import Comparison

    sf.write(tmp_path / "a.wav", np.zeros(22050 * 120, dtype=np.float32), 22050)
    (tmp_path / "train.txt").write_text("a.wav\n")
    record = {"level_db": -30.0, "tonal_score_db": 1.0, "tonal_max_db": 9.0, "mel_l1": 5.0}
    comp = Comparison(out_dir=tmp_path, config=tmp_path / "r.yaml", kinds=["transposed", "sinc"], stages=[0, 7],
                      results={0: {"transposed": dict(record, kind="transposed", step=0, level_db=-63.0),
                                   "sinc": dict(record, kind="sinc", step=0, level_db=-70.0)},
                               7: {"sinc": dict(record, kind="sinc", step=7)}},
                      reference={"tonal_score_db": 0.5, "tonal_max_db": 20.0},
                      info={"generator": "hifigan", "preset": "tiny", "batch_size": 2, "threads": 1,
                            "test_seconds": 24.0})
    text = "\n".join(gc.results_section(comp, gc.device_name("cpu"), "recipes/tiny.yaml", tmp_path,
                                        ["t.wav"], 7, 100.0, 120.0, "2.x"))
    assert "cores)" in text and "1 torch thread(s)" in text and "2 min of training audio" in text
    assert "Output level at step 0 (DC removed, re the real audio): transposed -63 dB, sinc -70 dB." in text
    assert "- sinc after 7 steps: output -30 dB" in text and "Too quiet (< -20 dB)" in text


@pytest.mark.parametrize("extra, message", [
    (["--bundle", "{tmp}"], "would hold --out"),  # the bundle folder is emptied first
    (["--bundle", "{tmp}/o"], "would hold --out"),
    (["--bundle", "{tmp}/keep"], "not an earlier bundle"),
    (["--probe", "0"], "--probe must be at least 1"),
    (["--test-files", "-2"], "--test-files must be at least 1"),
])
def test_nonsense_options_are_refused_before_anything_is_touched(gc, tmp_path, capsys, extra, message):
    (tmp_path / "keep").mkdir()
    (tmp_path / "keep" / "notes.txt").write_text("mine")
    with pytest.raises(SystemExit) as exc:
        gc.parse_args(["--data", str(tmp_path), "--out", str(tmp_path / "o"),
                       *[e.format(tmp=tmp_path) for e in extra]])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert (tmp_path / "keep" / "notes.txt").read_text() == "mine"
