"""``audioup train`` on hostile inputs (reliability round 3, issue 20): every refusal is one
line ``audioup train: error: ...`` with exit 1, never a traceback, and nothing is written
through a link. Rows 1, 10, 13-21 of round3-defects.md."""
from __future__ import annotations

import errno
import os
import shutil
import struct
import time
import zipfile
from pathlib import Path

import pytest
import torch
import yaml

from audioup.cli import main
from audioup.train.checkpoint import checkpoint_path, list_checkpoints, load_checkpoint

REPO = Path(__file__).resolve().parents[2]
TINY = REPO / "recipes" / "tiny.yaml"
FAST = ["train.progress=false", "data.segment_length=1024", "train.validation_interval=1000",
        "train.checkpoint_interval=1"]


def run_train(capsys, run_dir, *overrides, recipe=TINY, init_from=None):
    """``(exit code, stderr)`` of ``audioup train`` run in this process (a traceback fails the test)."""
    argv = ["train", str(recipe), f"run_dir={run_dir}", *FAST, *overrides]
    if init_from is not None:
        argv += ["--init-from", str(init_from)]
    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return code, out.err, out.out


def one_line_error(code, err, *fragments):
    lines = [line for line in err.splitlines() if line.strip()]
    assert code == 1, err
    assert len(lines) == 1 and lines[0].startswith("audioup train: error: "), err
    for fragment in fragments:
        assert fragment in lines[0], lines[0]
    return lines[0]


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny run trained to step 2, with checkpoints at steps 1 and 2."""
    run = tmp_path_factory.mktemp("trained") / "run"
    assert main(["train", str(TINY), f"run_dir={run}", *FAST, "max_steps=2"]) == 0
    assert [s for s, _ in list_checkpoints(run)] == [1, 2]
    return run


@pytest.fixture
def run_copy(trained, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(trained, run)
    return run


# ----------------------------------------------------------------------------- row 1: the run lock


@pytest.mark.parametrize("kind", ["symlink", "dangling", "fifo"])
def test_the_run_lock_is_never_written_through_a_link(tmp_path, capsys, kind):
    run, victim = tmp_path / "run", tmp_path / "victim.txt"
    run.mkdir()
    victim.write_text("precious\n")
    lock = run / "train.lock"
    if kind == "symlink":
        lock.symlink_to(victim)
    elif kind == "dangling":
        lock.symlink_to(tmp_path / "created-by-the-trainer")
    else:
        os.mkfifo(lock)
    code, err, _ = run_train(capsys, run, "max_steps=1")
    line = one_line_error(code, err, str(lock))
    assert ("symbolic link" in line) if kind != "fifo" else ("not a regular file" in line)
    assert victim.read_text() == "precious\n"
    assert not (tmp_path / "created-by-the-trainer").exists()
    assert not list_checkpoints(run) and not (run / "config.yaml").exists()


# ----------------------------------------------------------------------------- row 13: OS errors


def _loop(run):
    run.symlink_to(run)  # a link to itself: ELOOP


@pytest.mark.parametrize("make, fragments", [
    (lambda r: (r / "train.lock").mkdir(parents=True), ("train.lock", "is a folder")),
    (lambda r: (r.mkdir(), (r / "logs").write_text("x")), ("logs", "is a file")),
    (lambda r: (r.mkdir(), (r / "checkpoints").write_text("x")), ("checkpoints", "is a file")),
    (lambda r: (r / "config.yaml").mkdir(parents=True), ("config.yaml", "is a folder")),
    (_loop, ("run", "symbolic link loop")),
    (lambda r: (r / "checkpoints" / "ckpt_00000001.pt").mkdir(parents=True), ("ckpt_00000001.pt", "is a folder")),
])
def test_a_run_folder_that_cannot_hold_a_run_is_one_line(tmp_path, capsys, make, fragments):
    run = tmp_path / "run"
    make(run)
    code, err, _ = run_train(capsys, run, "max_steps=1")
    one_line_error(code, err, *fragments)


@pytest.mark.parametrize("number, words", [(errno.EROFS, "read-only file system"),
                                           (errno.EACCES, "permission denied")])
def test_a_read_only_or_unwritable_run_folder_is_one_line(tmp_path, capsys, monkeypatch, number, words):
    # the suite runs as root, where chmod does not stop writes: the OS answer is simulated
    run = tmp_path / "run"
    run.mkdir()
    real_open = os.open

    def refusing(path, *args, **kwargs):
        if str(path).startswith(str(run)):
            raise OSError(number, os.strerror(number), str(path))
        return real_open(path, *args, **kwargs)

    monkeypatch.setattr(os, "open", refusing)
    code, err, _ = run_train(capsys, run, "max_steps=1")
    one_line_error(code, err, str(run / "train.lock"), words)


# ----------------------------------------------------------------------------- rows 14, 15, 19: settings


@pytest.mark.parametrize("override, fragments", [
    ("train.device=bogus", ("train.device must be auto, cpu, cuda or cuda:N", "'bogus'")),
    ("train.device=meta", ("train.device must be",)),
    ("mel.n_fft=1073741824", ("mel.n_fft must be in [1, 65536]",)),
    ("model.kwargs={upsample_initial_channel: 100000}", ("model: upsample_initial_channel = 100,000 is too large",)),
    ("model.kwargs={upsample_initial_channel: 5000}", ("model: the generator would have", "more than the limit")),
    ("model.discriminator_kwargs={msd: {width: 40}}", ("model.discriminator_kwargs: the discriminators would have",)),
    ("model.upsampler={kind: resize, kernel_size: 100000000}", ("upsampler.kernel_size = 100,000,000 is too large",)),
    ("mel.f_min=20000", ("mel.f_min must be below sample_rate / 2 = 11025.0",)),
])
def test_absurd_settings_are_refused_before_building(tmp_path, capsys, override, fragments):
    t0 = time.perf_counter()
    code, err, _ = run_train(capsys, tmp_path / "run", "max_steps=1", "mel.f_max=null", override)
    one_line_error(code, err, *fragments)
    assert time.perf_counter() - t0 < 20
    assert not list_checkpoints(tmp_path / "run")


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
@pytest.mark.parametrize("device", ["cuda", "cuda:1"])
def test_cuda_without_a_gpu_names_the_setting(tmp_path, capsys, device):
    code, err, _ = run_train(capsys, tmp_path / "run", "max_steps=1", f"train.device={device}")
    one_line_error(code, err, f"train.device={device}", "CUDA is not available", "use train.device=cpu")


# ----------------------------------------------------------------------------- rows 10, 20: files


def test_yaml_aliases_are_refused_without_expanding_them(tmp_path, capsys):
    # FX/yaml/bomb_files.yaml of the probe: 8 levels of 10 aliases, 10^8 values in data.files
    levels = ["    - &a [x, x, x, x, x, x, x, x, x, x]"] + \
        [f"    - &{chr(98 + i)} [{', '.join(['*' + chr(97 + i)] * 10)}]" for i in range(7)]
    recipe = tmp_path / "bomb_files.yaml"
    recipe.write_text(f"extends: {TINY}\ndata:\n  files:\n" + "\n".join(levels) + "\n")
    t0 = time.perf_counter()
    code, err, _ = run_train(capsys, tmp_path / "run", "max_steps=1", recipe=recipe)
    one_line_error(code, err, str(recipe), "line 5", "YAML aliases (*a) are not accepted")
    assert time.perf_counter() - t0 < 20
    code, err, _ = run_train(capsys, tmp_path / "run", "max_steps=1", "data.files=[&x a, *x]")
    one_line_error(code, err, "override 'data.files=[&x a, *x]'", "aliases")


def test_latin1_bytes_in_a_recipe_or_filelist_name_the_file(tmp_path, capsys, arctic_files):
    recipe = tmp_path / "latin1.yaml"
    recipe.write_bytes(f"extends: {TINY}\n# caf\xe9 au lait\nmax_steps: 1\n".encode("latin-1"))
    code, err, _ = run_train(capsys, tmp_path / "run", recipe=recipe)
    one_line_error(code, err, str(recipe), "not UTF-8 text (byte 0xe9 on line 2)")

    listing = tmp_path / "latin1_filelist.txt"
    listing.write_bytes(f"{arctic_files[0]}|caf\xe9\n".encode("latin-1"))
    code, err, _ = run_train(capsys, tmp_path / "run", "max_steps=1", "data.files=[]", f"data.filelist={listing}")
    one_line_error(code, err, str(listing), "not UTF-8 text (byte 0xe9 on line 1)")
    assert not (tmp_path / "run").exists()


# ----------------------------------------------------------------------------- rows 16-18: resume


def test_resume_refuses_changed_discriminator_settings(run_copy, capsys):
    config = (run_copy / "config.yaml").read_text()
    code, err, _ = run_train(capsys, run_copy, "max_steps=3", "model.discriminator_kwargs.msd.width=0.125")
    one_line_error(code, err, "ckpt_00000002.pt", "model.discriminator_kwargs", "'width': 0.0625")
    assert (run_copy / "config.yaml").read_text() == config
    assert [s for s, _ in list_checkpoints(run_copy)] == [1, 2]


@pytest.mark.parametrize("override, key", [("mel.f_max=4000", "mel.f_max is 4000.0 in the config but 8000.0"),
                                           ("mel.n_mels=64", "mel.n_mels is 64")])
def test_resume_refuses_changed_mel_settings(run_copy, capsys, override, key):
    config = (run_copy / "config.yaml").read_text()
    code, err, _ = run_train(capsys, run_copy, "max_steps=3", override)
    if "n_mels" in override:  # n_mels also changes the generator's input: refused either way
        assert code == 1 and "audioup train: error:" in err and "Traceback" not in err
    else:
        one_line_error(code, err, "ckpt_00000002.pt", key, "the mel front end is part of the model")
    assert (run_copy / "config.yaml").read_text() == config


def test_resume_applies_a_changed_learning_rate_and_says_so(run_copy, capsys):
    before = load_checkpoint(checkpoint_path(run_copy, 2))
    old_base = before["sched_g"]["base_lrs"][0]
    old_now = before["optim_g"]["param_groups"][0]["lr"]
    code, err, out = run_train(capsys, run_copy, "max_steps=3", "optim.lr=0.001")
    assert code == 0, err
    assert f"optim.lr {old_base:g} -> 0.001" in out
    after = load_checkpoint(checkpoint_path(run_copy, 3))
    for key in ("optim_g", "optim_d"):
        group = after[key]["param_groups"][0]
        assert group["initial_lr"] == 0.001
        decay_per_epoch = 0.999  # tiny.yaml: 2 files, batch 2, one step per epoch; one more decay at step 3
        assert group["lr"] == pytest.approx(old_now * 0.001 / old_base * decay_per_epoch, rel=1e-9)
    assert after["sched_g"]["base_lrs"] == [0.001]
    assert yaml.safe_load((run_copy / "config.yaml").read_text())["optim"]["lr"] == 0.001


def test_an_unchanged_resume_keeps_the_optimizer_exactly(run_copy, capsys):
    before = load_checkpoint(checkpoint_path(run_copy, 2))
    code, err, out = run_train(capsys, run_copy, "max_steps=3")
    assert code == 0, err
    assert "optimizer settings" not in out
    after = load_checkpoint(checkpoint_path(run_copy, 3))
    assert after["optim_g"]["param_groups"][0]["lr"] == before["optim_g"]["param_groups"][0]["lr"] * 0.999


# ----------------------------------------------------------------------------- row 21: damaged weights


def poke_nan(path):
    """A NaN written over the first bytes of a tensor record of a torch zip, its CRC left as it was."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if "/data/" in i.filename and i.file_size >= 4)
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len)
        f.write(struct.pack("<f", float("nan")))


def test_a_damaged_newest_checkpoint_is_named_and_set_aside_on_resume(run_copy, capsys):
    newest = checkpoint_path(run_copy, 2)
    poke_nan(newest)
    code, err, out = run_train(capsys, run_copy, "max_steps=2")
    assert code == 0, err
    assert f"{newest}: damaged file: the checksum (CRC)" in out and "renamed to ckpt_00000002.pt.corrupt" in out
    assert "resuming from" in out and "ckpt_00000001.pt" in out
    assert newest.with_name(newest.name + ".corrupt").is_file()
    assert torch.isfinite(load_checkpoint(newest)["generator"]["conv_pre.bias"]).all()  # retrained step 2


def test_a_damaged_init_from_checkpoint_is_named_and_left_alone(run_copy, tmp_path, capsys):
    source = checkpoint_path(run_copy, 2)
    poke_nan(source)
    data = source.read_bytes()
    code, err, _ = run_train(capsys, tmp_path / "new", "max_steps=1", init_from=source)
    one_line_error(code, err, f"{source}: damaged file")
    assert source.read_bytes() == data  # a file the user names is not renamed
    assert not list_checkpoints(tmp_path / "new")
