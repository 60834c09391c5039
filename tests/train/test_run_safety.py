"""A run folder is never corrupted: one trainer at a time, no silent fallback past an
unreadable or newer checkpoint, config.yaml only for accepted settings, disk-full and
leftover temporary files handled."""
from __future__ import annotations

import errno
import io
import os
from pathlib import Path

import pytest
import torch

from audioup.train import checkpoint as C
from audioup.train.checkpoint import (CheckpointError, checkpoint_path, list_checkpoints, load_newest,
                                      run_lock, save_checkpoint)
from audioup.train.config import load_config
from audioup.train.loop import TrainingError, train

from .test_checkpoints import payload

TINY = Path(__file__).resolve().parents[2] / "recipes" / "tiny.yaml"
FAST = ["train.progress=false", "data.segment_length=1024", "train.validation_interval=1000",
        "max_steps=1"]


def tiny(run_dir, *overrides):
    return load_config(TINY, [f"run_dir={run_dir}", *FAST, *overrides])


def test_an_unreadable_newest_checkpoint_stops_instead_of_falling_back(tmp_path, monkeypatch):
    for step in (2, 4):
        save_checkpoint(payload(step), checkpoint_path(tmp_path, step))
    real_load = torch.load

    def denied(path, *args, **kwargs):
        if Path(path).name == "ckpt_00000004.pt":
            raise PermissionError(errno.EACCES, "Permission denied", str(path))  # as for chmod 000, not root
        return real_load(path, *args, **kwargs)

    monkeypatch.setattr(torch, "load", denied)
    with pytest.raises(CheckpointError, match="ckpt_00000004.pt: cannot read checkpoint .Permission denied"):
        load_newest(tmp_path, log=lambda *_: None)
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2, 4]  # nothing renamed .corrupt


def test_a_checkpoint_from_a_newer_version_stops_and_is_kept(tmp_path):
    save_checkpoint(payload(2), checkpoint_path(tmp_path, 2))
    save_checkpoint({**payload(4), "version": C.VERSION + 1}, checkpoint_path(tmp_path, 4))
    with pytest.raises(CheckpointError, match="newer audioup"):
        load_newest(tmp_path, log=lambda *_: None)
    assert checkpoint_path(tmp_path, 4).is_file()


def test_a_malicious_pickle_is_refused_as_not_a_checkpoint(tmp_path):
    class Evil:
        def __reduce__(self):
            return (os.system, ("echo pwned",))

    path = tmp_path / "evil.pt"
    torch.save({"x": Evil()}, path)
    with pytest.raises(CheckpointError) as err:
        C.load_checkpoint(path)
    assert "not an audioup/HiFi-GAN checkpoint" in str(err.value) and "unsafely" in str(err.value)
    assert "weights_only=False" not in str(err.value)


def test_disk_full_while_saving_says_so_and_keeps_the_previous_checkpoint(tmp_path, monkeypatch):
    save_checkpoint(payload(2), checkpoint_path(tmp_path, 2))
    real_save = torch.save

    class Full(io.RawIOBase):  # a file on a disk with 1000 bytes left
        def __init__(self, f):
            self.f, self.n = f, 0

        def writable(self):
            return True

        def write(self, b):
            self.n += len(b)
            if self.n > 1000:
                raise OSError(errno.ENOSPC, "No space left on device")
            return self.f.write(b)

    monkeypatch.setattr(torch, "save", lambda obj, f: real_save(obj, Full(f)))
    with pytest.raises(CheckpointError, match="disk full while writing checkpoint 4; the previous checkpoint is intact"):
        save_checkpoint(payload(4), checkpoint_path(tmp_path, 4))
    assert [s for s, _ in list_checkpoints(tmp_path)] == [2]
    assert sorted(p.name for p in C.checkpoint_dir(tmp_path).iterdir()) == ["ckpt_00000002.pt"]


def test_second_trainer_refused_naming_the_holder(tmp_path):
    run = tmp_path / "run"
    with run_lock(run):
        with pytest.raises(CheckpointError, match=f"another training process .pid {os.getpid()}."):
            train(tiny(run), log=lambda *_: None)
        assert not (run / "config.yaml").exists() and not list_checkpoints(run)
    with run_lock(run):  # released on exit: a later run can take it
        pass


def test_run_cleans_stale_temporaries_and_writes_config_only_after_restore(tmp_path):
    run = tmp_path / "run"
    stale = C.checkpoint_dir(run) / ".ckpt_00000007.pt.k2j4x.tmp"
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b"\0" * 100)
    other = C.checkpoint_dir(run) / "notes.tmp"
    other.write_text("mine")
    messages = []
    train(tiny(run), log=messages.append)
    assert not stale.exists() and other.exists()
    assert any("removed 1 temporary checkpoint file" in m for m in messages)
    assert [s for s, _ in list_checkpoints(run)] == [1]
    config = (run / "config.yaml").read_text()
    assert (run / "config.yaml").stat().st_mode & 0o777 == 0o666 & ~_umask()

    # a resume with another generator is refused and leaves config.yaml as it was
    with pytest.raises(TrainingError, match="differs from the config"):
        train(tiny(run, "max_steps=2", "model.upsampler=resize"), log=lambda *_: None)
    assert (run / "config.yaml").read_text() == config


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize("policy", ["stop", "skip"])
def test_training_with_a_nan_file_in_dataloader_workers(tmp_path, capfd, policy):
    import numpy as np
    import soundfile as sf

    from audioup.cli import main

    data = tmp_path / "data"
    data.mkdir()
    t = np.arange(44100) / 22050
    for i in range(2):
        sf.write(data / f"good{i}.wav", 0.3 * np.sin(2 * np.pi * 220 * (i + 1) * t), 22050)
    x = np.zeros(44100, np.float32)
    x[::10] = np.nan
    sf.write(data / "nan.wav", x, 22050, subtype="FLOAT")
    code = main(["train", str(TINY), f"run_dir={tmp_path / 'run'}", *FAST, f"data.files=[{data}]",
                 "data.cache_mb=0", "data.num_workers=1", "train.batch_size=3",
                 "data.valid_files=[]", f"data.on_bad_file={policy}"])
    out = capfd.readouterr()  # the worker process's output too
    if policy == "stop":
        assert code == 1
        assert "nan.wav: contains" in out.err and "data.on_bad_file=skip" in out.err
        assert "Traceback" not in out.err and len(out.err.strip().splitlines()) == 1
    else:
        assert code == 0, out.err
        assert "skipping" in out.out + out.err and "nan.wav" in out.out + out.err
        assert [s for s, _ in list_checkpoints(tmp_path / "run")] == [1]
