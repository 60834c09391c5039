"""``audioup mel``: .npy log-mels that ``audioup vocode`` turns back into the same audio."""
from __future__ import annotations

import shutil

import numpy as np
import soundfile as sf
import torch

from audioup.audio import MelSpectrogram, load_audio
from audioup.cli import main
from audioup.commands.mel import log_mel
from audioup.inference import load_generator



def test_mels_from_the_checkpoints_front_end_vocode_like_the_wavs(run_dir, arctic_files, tmp_path, capsys):
    inputs = tmp_path / "in"
    (inputs / "sub").mkdir(parents=True)
    shutil.copy(arctic_files[0], inputs / arctic_files[0].name)
    shutil.copy(arctic_files[1], inputs / "sub" / arctic_files[1].name)
    assert main(["mel", str(inputs), "--checkpoint", str(run_dir), "--out", str(tmp_path / "mels")]) == 0
    vocoder = load_generator(run_dir)
    for src, rel in ((arctic_files[0], arctic_files[0].name), (arctic_files[1], f"sub/{arctic_files[1].name}")):
        mel = np.load((tmp_path / "mels" / rel).with_suffix(".npy"))
        wav = load_audio(src, sample_rate=vocoder.sample_rate).samples
        assert mel.dtype == np.float32
        assert mel.shape == (vocoder.n_mels, -(-len(wav) // vocoder.hop_length))
        np.testing.assert_allclose(mel, vocoder._analyse(torch.from_numpy(wav)[None])[0].numpy(), atol=1e-5)

    assert main(["vocode", "--checkpoint", str(run_dir), str(tmp_path / "mels"), "--out", str(tmp_path / "a")]) == 0
    assert main(["vocode", "--checkpoint", str(run_dir), str(inputs), "--out", str(tmp_path / "b")]) == 0
    for rel in (arctic_files[0].name, f"sub/{arctic_files[1].name}"):
        from_mel, rate = sf.read(tmp_path / "a" / rel, dtype="float32")
        from_wav, _ = sf.read(tmp_path / "b" / rel, dtype="float32")
        assert rate == vocoder.sample_rate
        assert len(from_mel) % vocoder.hop_length == 0 and len(from_mel) - len(from_wav) < vocoder.hop_length
        np.testing.assert_allclose(from_mel[:len(from_wav)], from_wav, atol=2 / 32768)  # 16-bit files


def test_default_front_end_existing_outputs_and_bad_files(arctic_files, tmp_path, capsys):
    out = tmp_path / "mels"
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"not audio at all")
    code = main(["mel", str(arctic_files[0]), str(bad), "--out", str(out), "--quiet"])
    err = capsys.readouterr().err
    assert code == 1 and "bad.wav" in err and "1 failed" in err
    mel = np.load(out / (arctic_files[0].stem + ".npy"))
    wav = load_audio(arctic_files[0], sample_rate=22050).samples
    np.testing.assert_allclose(mel, log_mel(wav, MelSpectrogram()), atol=1e-6)
    assert mel.shape == (80, -(-len(wav) // 256))

    before = (out / (arctic_files[0].stem + ".npy")).read_bytes()
    assert main(["mel", str(arctic_files[0]), "--out", str(out)]) == 1
    assert "--force" in capsys.readouterr().err
    assert (out / (arctic_files[0].stem + ".npy")).read_bytes() == before
    assert main(["mel", str(tmp_path / "missing.wav"), "--out", str(out)]) == 1
    assert "no such file" in capsys.readouterr().err
