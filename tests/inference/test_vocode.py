"""``audioup vocode`` and the Python inference API on a one-step tiny checkpoint."""
from __future__ import annotations

import os
import shutil
import subprocess
import sys

import numpy as np
import pytest
import soundfile as sf
import torch

from audioup.inference import load_generator
from audioup.train.checkpoint import CheckpointError



def vocode(*args, capsys=None) -> subprocess.CompletedProcess:
    """The console script in a subprocess, or its ``main`` in-process when given ``capsys``."""
    argv = ["vocode", *map(str, args)]
    if capsys is None:
        return subprocess.run([sys.executable, "-m", "audioup", *argv], capture_output=True, text=True,
                              timeout=120, env={**os.environ, "OMP_NUM_THREADS": "1"})
    from audioup.cli import main

    capsys.readouterr()
    code = main(argv)
    out = capsys.readouterr()
    return subprocess.CompletedProcess(argv, code, out.out, out.err)


def test_round_trip_lengths_rates_and_overwrite_refusal(run_dir, arctic_files, tmp_path, capsys):
    inputs = tmp_path / "in"
    inputs.mkdir()
    for f in arctic_files:  # 16 kHz files: analysed at the model's 22.05 kHz
        shutil.copy(f, inputs / f.name)
    np.save(tmp_path / "mel.npy", np.full((80, 9), -5.0, dtype=np.float32))
    out = tmp_path / "out"
    proc = vocode("--checkpoint", run_dir, inputs, tmp_path / "mel.npy", "--out", out)
    assert proc.returncode == 0, proc.stderr
    for f in arctic_files:
        info, src = sf.info(out / f.name), sf.info(f)
        assert info.samplerate == 22050
        assert abs(info.frames - src.frames * 22050 / 16000) <= 1  # the input's duration, at 22.05 kHz
    mel_out = sf.info(out / "mel.wav")
    assert (mel_out.frames, mel_out.samplerate) == (9 * 256, 22050)

    before = (out / "mel.wav").stat().st_mtime_ns
    again = vocode("--checkpoint", run_dir, tmp_path / "mel.npy", "--out", out, capsys=capsys)
    assert again.returncode == 1 and "--force" in again.stderr and "already exist" in again.stderr
    assert (out / "mel.wav").stat().st_mtime_ns == before
    forced = vocode("--checkpoint", run_dir, tmp_path / "mel.npy", "--out", out, "--force", capsys=capsys)
    assert forced.returncode == 0, forced.stderr


def test_bad_inputs_are_reported_by_name_and_others_written(run_dir, tmp_path):
    voc = load_generator(run_dir)
    np.save(tmp_path / "good.npy", np.full((80, 4), -4.0, dtype=np.float32))
    np.save(tmp_path / "wrong.npy", np.zeros((40, 4), dtype=np.float32))
    (tmp_path / "broken.wav").write_bytes(b"not audio")
    report = voc.vocode_files([tmp_path], tmp_path / "out", progress=False)
    assert [dst.name for _, dst in report.written] == ["good.wav"]
    failed = {src.name: why for src, why in report.failed}
    assert set(failed) == {"wrong.npy", "broken.wav"} and "(80, frames)" in failed["wrong.npy"]


def test_python_api_batched_equals_single_and_matches_training_weights(run_dir, speech_22k):
    voc = load_generator(run_dir)
    assert (voc.sample_rate, voc.hop_length, voc.step) == (22050, 256, 1)
    wav = torch.from_numpy(speech_22k[0][:256 * 20])
    out = voc.wav_to_wav(wav)
    assert out.shape == wav.shape and out.abs().max() <= 1.0
    mel = voc.mel(wav.unsqueeze(0))
    batch = voc(torch.cat([mel, mel]))
    torch.testing.assert_close(batch[0], voc(mel[0]), atol=1e-5, rtol=0)
    # the same network as the training checkpoint's (weight norm folded away)
    from audioup.train.setup import build_generator_from

    ckpt = torch.load(run_dir / "checkpoints" / "ckpt_00000001.pt", weights_only=True)
    net = build_generator_from(ckpt["generator_config"])
    net.load_state_dict(ckpt["generator"])
    with torch.no_grad():
        torch.testing.assert_close(net(mel)[0, 0], voc(mel[0]), atol=1e-4, rtol=0)


def test_missing_or_corrupt_checkpoint_is_a_clear_error(tmp_path, capsys):
    bad = tmp_path / "ckpt.pt"
    bad.write_bytes(b"\x00" * 100)
    with pytest.raises(CheckpointError, match="corrupt"):
        load_generator(bad)
    proc = vocode("--checkpoint", tmp_path / "nothing", "x.wav", "--out", tmp_path / "o", capsys=capsys)
    assert proc.returncode == 1 and "nothing" in proc.stderr and "Traceback" not in proc.stderr


def test_long_inputs_in_chunks_match_the_whole_file(run_dir, speech_22k, tmp_path):
    voc = load_generator(run_dir)
    context = voc.context_frames()
    assert 2 < context < 200  # a finite receptive field, measured
    wav = torch.from_numpy(np.concatenate(speech_22k)[:22050 * 3 + 100])
    whole = voc.wav_to_wav(wav)
    for chunk in (37, 200):  # chunks shorter and longer than the context
        chunked = voc.vocode_long(wav, wav.shape[-1], chunk_frames=chunk)
        assert chunked.shape == whole.shape
        torch.testing.assert_close(chunked, whole, atol=1e-5, rtol=0)
    mel = voc._analyse(wav.unsqueeze(0))[0]
    torch.testing.assert_close(voc.vocode_long(mel, mel.shape[-1] * 256, chunk_frames=50), voc(mel),
                               atol=1e-5, rtol=0)
    # through vocode_files: a file over chunk_frames is chunked, the same samples come out
    sf.write(tmp_path / "long.wav", wav.numpy(), 22050, subtype="FLOAT")
    a = voc.vocode_files([tmp_path / "long.wav"], tmp_path / "a", progress=False, chunk_frames=40)
    b = voc.vocode_files([tmp_path / "long.wav"], tmp_path / "b", progress=False)
    assert len(a.written) == len(b.written) == 1
    np.testing.assert_allclose(sf.read(tmp_path / "a" / "long.wav")[0], sf.read(tmp_path / "b" / "long.wav")[0],
                               atol=2 / 32768)


def test_outputs_never_replace_inputs_even_with_force(run_dir, tmp_path, capsys):
    data = tmp_path / "d"
    data.mkdir()
    sf.write(data / "x.wav", np.zeros(4096, np.float32), 22050)
    before = (data / "x.wav").read_bytes()
    for args in (["--out", data, "--force"], ["--out", tmp_path / "link", "--force"]):
        if args[1] == tmp_path / "link":
            (tmp_path / "link").symlink_to(data)
        proc = vocode("--checkpoint", run_dir, data, *args, capsys=capsys)
        assert proc.returncode == 1 and "would replace the input" in proc.stderr, proc.stderr
        assert (data / "x.wav").read_bytes() == before


@pytest.mark.parametrize("array, message", [
    (np.array([["a"] * 4] * 80), "expected a real-valued"),
    (np.zeros((80, 4), dtype=[("a", "f4"), ("b", "f4")]), "expected a real-valued"),
    (np.zeros((80, 4), dtype=np.complex64), "got complex values"),
    (np.full((80, 4), 1e30, dtype=np.float32), "far above a log-mel's range"),
    (np.full((80, 4), -1e30, dtype=np.float32), "far below a log-mel's floor"),
])
def test_npy_mels_of_the_wrong_kind_are_refused_and_others_written(run_dir, tmp_path, array, message):
    voc = load_generator(run_dir)
    np.save(tmp_path / "bad.npy", array)
    np.save(tmp_path / "good.npy", np.full((80, 4), -4.0, dtype=np.float32))
    report = voc.vocode_files([tmp_path], tmp_path / "out", progress=False)
    assert [dst.name for _, dst in report.written] == ["good.wav"]
    assert len(report.failed) == 1 and message in report.failed[0][1] and "bad.npy" in report.failed[0][1]


def test_full_disk_permission_and_link_loop_are_named(run_dir, tmp_path, capsys, monkeypatch):
    import tempfile

    import audioup.audio.fs as fs

    data = tmp_path / "d"
    data.mkdir()
    for name in ("a", "b"):
        sf.write(data / f"{name}.wav", np.zeros(4096, np.float32), 22050)
    (tmp_path / "loop").symlink_to(tmp_path / "loop")
    proc = vocode("--checkpoint", run_dir, tmp_path / "loop", "--out", tmp_path / "o1", capsys=capsys)
    assert proc.returncode == 1 and "symbolic link loop" in proc.stderr

    calls, real_mkstemp = [], tempfile.mkstemp

    def full_disk(prefix, suffix, dir):  # the first file fits, then the disk is full
        calls.append(prefix)
        fd, name = real_mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        if len(calls) > 1:
            os.close(fd)
            fd = os.open("/dev/full", os.O_WRONLY)
        return fd, name

    monkeypatch.setattr(fs.tempfile, "mkstemp", full_disk)
    proc = vocode("--checkpoint", run_dir, data, "--out", tmp_path / "o2", capsys=capsys)
    assert proc.returncode == 1 and "disk full while writing" in proc.stderr, proc.stderr
    assert "Traceback" not in proc.stderr and "System error" not in proc.stderr
    assert sorted(p.name for p in (tmp_path / "o2").iterdir()) == ["a.wav"]  # complete, no temporary
    assert sf.info(tmp_path / "o2" / "a.wav").frames == 4096


def test_permission_denied_is_not_called_unreadable_audio(tmp_path, monkeypatch):
    import builtins

    from audioup.audio import AudioError, audio_info

    path = tmp_path / "locked.wav"
    sf.write(path, np.zeros(100, np.float32), 22050)
    real_open = builtins.open

    def denied(file, *args, **kwargs):  # as chmod 000 for a non-root user
        if str(file) == str(path):
            raise PermissionError(13, "Permission denied", str(file))
        return real_open(file, *args, **kwargs)

    monkeypatch.setattr(builtins, "open", denied)
    with pytest.raises(AudioError, match=r"locked.wav: cannot open \(Permission denied\)"):
        audio_info(path)


def test_vocode_command_loads_no_training_code():
    """Inference stands alone (STYLE.md): the vocode command imports nothing from audioup.train."""
    code = ("import sys, audioup.commands.vocode, audioup.inference; "
            "print(sorted(m for m in sys.modules if m.startswith('audioup.train')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_a_checkpoint_with_non_finite_weights_is_refused_by_name(run_dir, tmp_path, capsys):
    """A flipped bit can turn weights into NaN/Inf; torch loads it, and it vocodes to full-scale noise."""
    ckpt = torch.load(run_dir / "checkpoints" / "ckpt_00000001.pt", weights_only=True)
    key = next(k for k, v in ckpt["generator"].items() if v.is_floating_point())
    ckpt["generator"][key].view(-1)[3] = float("nan")
    bad = tmp_path / "damaged.pt"
    torch.save(ckpt, bad)
    np.save(tmp_path / "mel.npy", np.full((80, 9), -5.0, dtype=np.float32))
    proc = vocode("--checkpoint", bad, tmp_path / "mel.npy", "--out", tmp_path / "out", capsys=capsys)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr
    assert f"{bad}: non-finite" in proc.stderr and "(NaN or Inf) in" in proc.stderr and key in proc.stderr
    assert not (tmp_path / "out").exists()


def test_long_files_are_streamed_with_the_samples_of_one_piece(run_dir, speech_22k, tmp_path):
    """A long file at another rate, stereo, and a long .npy mel: read, vocoded and written in chunks."""
    from audioup.audio import load_audio

    voc = load_generator(run_dir)
    speech = np.concatenate(speech_22k)[:22050 * 3]
    stereo = np.stack([speech, 0.5 * speech[::-1]], axis=1)[::2]  # 3 s of 11.025 kHz stereo
    (tmp_path / "in").mkdir()
    sf.write(tmp_path / "in" / "s.wav", stereo, 11025, subtype="FLOAT")
    mel = voc._analyse(torch.from_numpy(speech)[None])[0]
    np.save(tmp_path / "in" / "m.npy", mel.numpy())
    report = voc.vocode_files([tmp_path / "in"], tmp_path / "out", progress=False, chunk_frames=30)
    assert sorted(d.name for _, d in report.written) == ["m.wav", "s.wav"] and not report.failed
    whole = voc.wav_to_wav(torch.from_numpy(load_audio(tmp_path / "in" / "s.wav", sample_rate=22050).samples))
    streamed = sf.read(tmp_path / "out" / "s.wav", dtype="float32")[0]
    assert streamed.shape == whole.shape
    np.testing.assert_allclose(streamed, np.clip(whole.numpy(), -1, 1), atol=1.5 / 32768)
    from_mel = sf.read(tmp_path / "out" / "m.wav", dtype="float32")[0]
    np.testing.assert_allclose(from_mel, np.clip(voc(mel).numpy(), -1, 1), atol=1.5 / 32768)


def test_a_long_file_that_fails_half_way_leaves_no_partial_output(run_dir, tmp_path):
    voc = load_generator(run_dir)
    x = (0.1 * np.random.default_rng(0).standard_normal(300_000)).astype(np.float32)
    x[-1000] = np.nan  # found only when the stream reaches the last block, chunks after the first written
    sf.write(tmp_path / "nan.wav", x, 22050, subtype="FLOAT")
    written = []
    real = voc.stream

    def counting(*a, **k):
        for block in real(*a, **k):
            written.append(len(block))
            yield block

    voc.stream = counting
    report = voc.vocode_files([tmp_path / "nan.wav"], tmp_path / "out", progress=False, chunk_frames=64)
    assert not report.written and "nan.wav" in report.failed[0][1] and "NaN" in report.failed[0][1]
    assert sum(written) >= 65536  # blocks were encoded before the NaN was read
    assert list((tmp_path / "out").iterdir()) == []  # no output, no temporary file


def test_load_clip_refuses_a_long_file_before_reading_it(tmp_path, monkeypatch):
    """The test clip of convert --test and analyze --mel-from: a length limit from the header."""
    import audioup.inference as inference
    from audioup.audio import AudioError
    from audioup.inference import load_clip

    sf.write(tmp_path / "short.wav", np.full(16000, 0.25, np.float32), 16000, subtype="FLOAT")
    clip = load_clip(tmp_path / "short.wav", 16000, max_seconds=1.0)
    assert clip.shape == (16000,) and np.allclose(clip, 0.25)
    sf.write(tmp_path / "long.wav", np.zeros(16001, np.float32), 16000, subtype="FLOAT")
    monkeypatch.setattr(inference, "load_audio", lambda *a, **k: pytest.fail("read the samples"))
    with pytest.raises(AudioError, match=r"long.wav: 1.0 s long; the test clip may be at most 1 s"):
        load_clip(tmp_path / "long.wav", 22050, max_seconds=1.0, what="the test clip")


@pytest.mark.parametrize("change, message", [
    ({"mel": {"bogus": 1}}, "bogus"),
    ({"mel": {"hop_length": 0}}, "mel.hop_length"),
    ({"mel": {"n_fft": 2 ** 30}}, "mel.n_fft"),
    ({"mel": {"f_min": 20000.0, "f_max": None}}, "mel.f_min"),
    ({"mel": "80 bands"}, "mel must be a"),
    ({"generator_config": ["hifigan"]}, "generator_config"),
])
def test_a_checkpoints_bad_settings_are_refused_naming_the_file_and_key(run_dir, tmp_path, capsys, change,
                                                                        message):
    ckpt = torch.load(run_dir / "checkpoints" / "ckpt_00000001.pt", weights_only=True)
    for key, value in change.items():
        ckpt[key] = {**ckpt[key], **value} if isinstance(value, dict) else value
    bad = tmp_path / "hand_made.pt"
    torch.save(ckpt, bad)
    np.save(tmp_path / "mel.npy", np.full((80, 9), -5.0, dtype=np.float32))
    for argv in (["vocode", "--checkpoint", bad, tmp_path / "mel.npy", "--out", tmp_path / "o"],
                 ["mel", "--checkpoint", bad, tmp_path / "x.wav", "--out", tmp_path / "m"]):
        from audioup.cli import main

        capsys.readouterr()
        assert main([str(a) for a in argv]) == 1
        err = capsys.readouterr().err
        assert f"{bad}: " in err and message in err and "Traceback" not in err, err  # the file and the key


def test_a_full_disk_while_streaming_raises_enospc_and_leaves_nothing(run_dir, tmp_path, monkeypatch, capfd):
    import errno
    import tempfile

    import audioup.audio.fs as fs

    voc = load_generator(run_dir)
    sf.write(tmp_path / "long.wav", np.zeros(40_000, np.float32), 22050)
    real_mkstemp = tempfile.mkstemp

    def full_disk(prefix, suffix, dir):
        fd, name = real_mkstemp(prefix=prefix, suffix=suffix, dir=dir)
        os.close(fd)
        return os.open("/dev/full", os.O_WRONLY), name

    monkeypatch.setattr(fs.tempfile, "mkstemp", full_disk)
    with pytest.raises(OSError) as caught:
        voc.vocode_files([tmp_path / "long.wav"], tmp_path / "out", progress=False, chunk_frames=16)
    assert caught.value.errno == errno.ENOSPC
    assert list((tmp_path / "out").iterdir()) == []
    err = capfd.readouterr().err  # soundfile's C callbacks print what they cannot raise: nothing here
    assert "Exception ignored" not in err and "Traceback" not in err
