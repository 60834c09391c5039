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


def test_long_files_are_streamed_in_chunks_with_the_values_of_one_piece(arctic_files, tmp_path):
    """write_mel reads and writes chunk by chunk (bounded memory); the .npy holds the whole file's mel."""
    from audioup.commands.mel import write_mel

    front_end = MelSpectrogram()
    for chunk in (7, 100_000):  # many chunks (16 kHz input, resampled as it streams), and one
        dst = write_mel(arctic_files[1], tmp_path / f"m{chunk}.npy", front_end, chunk_frames=chunk)
        mel = np.load(dst)
        whole = log_mel(load_audio(arctic_files[1], sample_rate=22050).samples, front_end)
        assert mel.shape == whole.shape
        np.testing.assert_allclose(mel, whole, atol=1e-4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m100000.npy", "m7.npy"]  # no temporaries


def test_readme_mel_then_vocode_with_the_same_name_skips_the_later_input(run_dir, arctic_files, tmp_path,
                                                                        capsys, monkeypatch):
    """issue 23: `mel speech.wav --out mels/` then `vocode speech.wav mels/`: one name, two inputs."""
    monkeypatch.chdir(tmp_path)
    shutil.copy(arctic_files[0], "speech.wav")
    assert main(["mel", "speech.wav", "--checkpoint", str(run_dir), "--out", "mels/", "--quiet"]) == 0
    capsys.readouterr()
    code = main(["vocode", "--checkpoint", str(run_dir), "speech.wav", "mels/", "--out", "vocoded/"])
    err = capsys.readouterr().err
    assert code == 1 and "Traceback" not in err
    assert ("skipped mels/speech.npy: its output vocoded/speech.wav is that of speech.wav, given before it"
            in err), err
    assert "wrote 1 file(s)" in err and "1 failed" in err
    written, rate = sf.read("vocoded/speech.wav")
    assert rate == 22050 and len(written) == len(load_audio("speech.wav", sample_rate=22050).samples)
    assert main(["vocode", "--checkpoint", str(run_dir), "mels/", "--out", "vocoded2/"]) == 0  # as README
