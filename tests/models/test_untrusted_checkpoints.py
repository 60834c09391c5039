"""A checkpoint is untrusted input: its settings are validated like a config and its sizes
checked before anything is built; a damaged file (wrong CRC, non-finite weights) is named.

Round 3 of the reliability probe (issue 20): rows 8, 21, 22 and 24.
"""
from __future__ import annotations

import struct
import time
import zipfile

import pytest
import torch

from audioup.models import HiFiGAN, hifigan_preset
from audioup.models.checkpoint import (FORMAT, VERSION, CheckpointError, CorruptCheckpointError,
                                       load_checkpoint, read_generator)
from audioup.models.registry import (MAX_PARAMETERS, build_generator_from, check_generator_size,
                                     generator_config)

MEL = {"sample_rate": 22050, "n_fft": 1024, "hop_length": 256, "win_length": 1024, "n_mels": 80,
       "f_min": 0.0, "f_max": 8000.0}


def tiny_checkpoint(path, **changes):
    """A real audioup checkpoint of a tiny HiFi-GAN, with ``changes`` over its entries."""
    config = generator_config("hifigan", "tiny", sample_rate=22050, n_mels=80)
    generator = build_generator_from(config)
    data = {"format": FORMAT, "version": VERSION, "step": 5, "sample_rate": 22050, "mel": dict(MEL),
            "generator_config": config, "generator": generator.state_dict()}
    data.update(changes)
    torch.save(data, path)
    return path


def test_a_sound_checkpoint_reads(tmp_path):
    data = read_generator(tiny_checkpoint(tmp_path / "ok.pt"))
    assert data["format"] == "audioup" and data["step"] == 5
    generator = build_generator_from(data["generator_config"])
    generator.load_state_dict(data["generator"])


def _kwargs(**over):
    return {**generator_config("hifigan", "tiny", sample_rate=22050, n_mels=80)["kwargs"], **over}


@pytest.mark.parametrize("changes, message", [
    ({"generator_config": {"name": "hifigan", "kwargs": _kwargs(upsample_initial_channel=12000)}},
     "generator_config: upsample_initial_channel = 12,000 is too large"),
    ({"generator_config": {"name": "hifigan", "kwargs": _kwargs(upsample_initial_channel=2 ** 17)}},
     "upsample_initial_channel = 131,072 is too large"),
    ({"generator_config": {"name": "hifigan", "kwargs": _kwargs(upsample_initial_channel=6000)}},
     "the generator would have [0-9,]+ parameters .* more than the limit"),
    ({"generator_config": ["hifigan"]}, "generator_config: generator spec must be a mapping"),
    ({"generator_config": {"name": "hifigan", "kwargs": "tiny"}}, "generator spec must be a mapping"),
    ({"mel": {**MEL, "hop_length": 0}}, r"mel.hop_length must be a whole number in \[1, 65536\] .got 0"),
    ({"mel": {**MEL, "colour": "blue"}}, "unknown mel key 'colour'"),
    ({"mel": {**MEL, "n_fft": 2 ** 30}}, "mel.n_fft must be a whole number in"),
    ({"mel": {**MEL, "f_min": 20000.0, "f_max": None}}, r"mel.f_min must be in \[0, sample_rate / 2\)"),
    ({"mel": "80 bands"}, "mel must be a mapping"),
    ({"sample_rate": 0}, "sample_rate must be a whole number"),
])
def test_bad_settings_are_refused_naming_the_file_and_key_before_building(tmp_path, changes, message):
    path = tiny_checkpoint(tmp_path / "bad.pt", **changes)
    t0 = time.perf_counter()
    with pytest.raises(CheckpointError, match=message) as err:
        read_generator(path)
    assert str(path) in str(err.value)
    assert time.perf_counter() - t0 < 10  # nothing of gigabytes was allocated
    with pytest.raises(CheckpointError, match=message):
        load_checkpoint(path)  # training's reader too


def _poke_nan(path, record_suffix="data/0"):
    """Write a NaN into a tensor's bytes inside the torch zip, leaving the CRC as it was
    (what a bit flip on disk does)."""
    with zipfile.ZipFile(path) as archive:
        info = next(i for i in archive.infolist() if i.filename.endswith(record_suffix))
    with open(path, "r+b") as f:
        f.seek(info.header_offset + 26)
        name_len, extra_len = struct.unpack("<HH", f.read(4))
        f.seek(info.header_offset + 30 + name_len + extra_len)
        f.write(struct.pack("<f", float("nan")))


def test_a_bit_flip_in_the_weights_is_found_by_the_crc(tmp_path):
    path = tiny_checkpoint(tmp_path / "flip.pt")
    _poke_nan(path)
    loaded = torch.load(path, weights_only=True)  # torch reads it without a word: it checks no CRC
    assert any(torch.isnan(v).any() for v in loaded["generator"].values())
    with pytest.raises(CorruptCheckpointError, match=r"flip.pt: damaged file: the checksum \(CRC\)"):
        read_generator(path)


def test_non_finite_weights_with_a_valid_crc_are_named(tmp_path):
    config = generator_config("hifigan", "tiny", sample_rate=22050, n_mels=80)
    state = build_generator_from(config).state_dict()
    key = next(iter(state))
    state[key] = state[key].clone().fill_(float("inf"))
    path = tiny_checkpoint(tmp_path / "inf.pt", generator=state)
    with pytest.raises(CorruptCheckpointError, match=f"inf.pt: non-finite values .NaN or Inf. in generator.{key}"):
        read_generator(path)


def test_an_official_file_with_nan_weights_is_refused(official_tiny):
    weights, _, _ = official_tiny
    data = torch.load(weights, weights_only=True)
    data["generator"]["conv_post.bias"] = torch.tensor([float("nan")])
    torch.save(data, weights)
    with pytest.raises(CorruptCheckpointError, match="non-finite values .* generator.conv_post.bias"):
        read_generator(weights)


def test_one_size_check_for_configs_and_checkpoints():
    v1 = generator_config("hifigan", "v1", sample_rate=22050, n_mels=80)
    assert check_generator_size(v1) == sum(p.numel() for p in HiFiGAN(**hifigan_preset("v1"),
                                                                      upsampler_init="hifigan").parameters())
    resize = generator_config("hifigan", "tiny", upsampler="resize-linear", sample_rate=22050, n_mels=80)
    built = build_generator_from(resize)
    exact = sum(t.numel() for t in built.parameters()) + sum(t.numel() for t in built.buffers())
    assert exact <= check_generator_size(resize) <= 2 * exact  # a kind the meta device cannot build: a bound
    big = generator_config("hifigan", "v1", {"upsample_initial_channel": 4096}, sample_rate=22050, n_mels=80)
    with pytest.raises(ValueError, match=f"more than the limit of {MAX_PARAMETERS:,}"):
        build_generator_from(big)  # the builder itself checks before allocating
    for kwargs, key in (({"upsample_kernel_sizes": [100000, 16, 8]}, "upsample_kernel_sizes"),
                        ({"resblock_kernel_sizes": [3] * 1000}, "resblock_kernel_sizes has 1,000 entries"),
                        ({"upsampler": {"kind": "resize", "kernel_size": 10 ** 8}}, "upsampler.kernel_size")):
        with pytest.raises(ValueError, match=key):
            check_generator_size(generator_config("hifigan", "tiny", kwargs, sample_rate=22050, n_mels=80))


@pytest.mark.parametrize("command", ["vocode", "convert"])
def test_the_commands_that_read_checkpoints_refuse_in_one_line(tmp_path, capsys, arctic_files, command):
    from audioup.cli import main

    path = tiny_checkpoint(tmp_path / "big.pt", generator_config={
        "name": "hifigan", "kwargs": _kwargs(upsample_initial_channel=12000)})
    argv = {"vocode": ["vocode", "--checkpoint", str(path), str(arctic_files[0]), "--out", str(tmp_path / "o")],
            "convert": ["convert", "--checkpoint", str(path), "--to", "resize-nearest",
                        "--out", str(tmp_path / "o"), "--no-eval"]}[command]
    assert main(argv) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"audioup {command}: error: {path}: generator_config: upsample_initial_channel = 12,000 "
                   "is too large (at most 8,192)"]
    assert not (tmp_path / "o").exists() or not any((tmp_path / "o").rglob("*.pt"))
