"""A released HiFi-GAN converted to an iSTFT generator: the trunk kept, the head fitted to the original."""
from __future__ import annotations

from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from audioup.audio.mel import MelSpectrogram
from audioup.evaluation import load_clips
from audioup.models import ISTFTNet
from audioup.models.checkpoint import read_generator
from audioup.models.convert import HEAD_LOG_MAGNITUDE, fit_istft_head_, istft_head_generator
from audioup.models.registry import build_generator_from
from audioup.models.resblocks import LRELU_SLOPE

CLIPS = Path(__file__).resolve().parents[2] / "data" / "cmu_arctic"


def _trunk(generator, mel, stages):
    x = generator.conv_pre(mel)
    for i in range(stages):
        x = generator.mrfs[i](generator.upsamplers[i](F.leaky_relu(x, LRELU_SLOPE)))
    return x


def test_the_trunk_is_the_released_one_and_the_head_starts_quiet(official_tiny):
    weights, config, _ = official_tiny
    source = read_generator(weights, config=config)
    spec, state, replaced = istft_head_generator(source)
    assert replaced == [2]  # the tiny HiFi-GAN's x8 x8 x4: the x4 gives way to a hop-4 iSTFT
    assert spec["name"] == "istftnet" and spec["kwargs"]["upsample_factors"] == [8, 8]
    assert spec["kwargs"]["istft_hop"] == 4 and spec["kwargs"]["istft_n_fft"] == 16
    student = build_generator_from(spec)
    student.load_state_dict(state)
    teacher = build_generator_from(source["generator_config"])
    teacher.load_state_dict(source["generator"])
    torch.manual_seed(123)  # the conversion is deterministic whatever the global random state
    again = istft_head_generator(source)[1]
    assert all(torch.equal(again[k], v) for k, v in state.items())
    assert isinstance(student, ISTFTNet) and student.hop_length == teacher.hop_length
    mel = torch.randn(1, 80, 12)
    with torch.no_grad():
        assert torch.equal(_trunk(student, mel, 2), _trunk(teacher, mel, 2))
        out = student(mel)
    assert out.shape == teacher(mel).shape
    bins = 9
    assert torch.all(student.conv_post.bias[:bins] == HEAD_LOG_MAGNITUDE)
    assert torch.all(student.conv_post.bias[bins:] == 0)
    assert float(out.abs().max()) < 0.5  # exp(-3) per bin, a small spread from the random head


def test_a_hop_no_last_layers_make_and_a_generator_without_them_are_refused(official_tiny):
    weights, config, _ = official_tiny
    source = read_generator(weights, config=config)
    with pytest.raises(ValueError, match="multiply to the iSTFT hop 8"):
        istft_head_generator(source, istft_hop=8)
    with pytest.raises(ValueError, match="replaces a HiFi-GAN"):
        istft_head_generator({**source, "generator_config": {"name": "vocos", "kwargs": {}}})


def test_the_head_fit_brings_the_output_towards_the_original_and_changes_nothing_else(official_tiny):
    weights, config, _ = official_tiny
    source = read_generator(weights, config=config)
    spec, state, _ = istft_head_generator(source)
    teacher = build_generator_from(source["generator_config"])
    teacher.load_state_dict(source["generator"])
    mel = MelSpectrogram(**source["mel"])
    clips = [torch.from_numpy(c.samples) for c in load_clips([CLIPS], 22050, log=lambda *_: None)]

    def distance(student):
        with torch.no_grad():
            m = mel(clips[0][:22050].unsqueeze(0))
            return float((student(m) - teacher(m)).pow(2).mean() / teacher(m).pow(2).mean())

    student = build_generator_from(spec)
    student.load_state_dict(state)
    before = {k: v.clone() for k, v in student.state_dict().items()}
    start = distance(student)
    history = fit_istft_head_(student, teacher, mel, clips, steps=60)
    assert len(history) == 60 and history[-1] < 0.8 * history[0]
    assert distance(student) < 0.8 * start
    changed = {k for k, v in student.state_dict().items() if not torch.equal(v, before[k])}
    assert changed and all(k.startswith("conv_post.") for k in changed)
    # istft_head_generator(fit_on=...) runs the same fit from the same (seeded) head
    _, fitted, _ = istft_head_generator(source, fit_on=clips, fit_steps=60)
    for key, value in student.state_dict().items():
        assert torch.allclose(fitted[key], value, atol=1e-6), key
