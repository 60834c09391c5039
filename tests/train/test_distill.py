"""The recovery fine-tune's loss: both outputs without the replaced layers' line bands."""
from __future__ import annotations

import copy
import math

import pytest
import torch

from audioup.audio.mel import MelSpectrogram
from audioup.models import HiFiGAN, hifigan_preset

from audioup.train.distill import (LINE_MARGIN_DB, Distiller, LineProminence, line_band_mask, line_excess_db,
                                  notched_lines, predicted_lines, without_lines)

SR = 22050


def _level_db(x: torch.Tensor, freq: float) -> float:
    """Magnitude (dB) of ``x``'s rFFT at the bin nearest ``freq``."""
    spec = torch.fft.rfft(x * torch.hann_window(x.shape[-1], periodic=False))
    k = round(freq * x.shape[-1] / SR)
    return 20 * math.log10(float(spec[..., k].abs().max()) + 1e-12)


def test_predicted_lines_are_the_multiples_of_each_rate_up_to_nyquist():
    assert predicted_lines([11025.0], SR) == [11025.0]
    assert predicted_lines([5512.5, 11025.0], SR) == [5512.5, 11025.0]
    lines = predicted_lines([SR / 32], SR)
    assert len(lines) == 16 and lines[0] == SR / 32 and lines[-1] == SR / 2


def test_without_lines_drops_the_line_bands_and_keeps_the_rest():
    gen = torch.Generator().manual_seed(0)
    n = 8192
    t = torch.arange(n) / SR
    speech_like = 0.1 * torch.randn(1, n, generator=gen) + 0.3 * torch.sin(2 * math.pi * 440.0 * t)
    # a buzz at a layer's input rate, modulated as real lines are
    line = 0.05 * (1 + 0.5 * torch.sin(2 * math.pi * 3.0 * t)) * torch.cos(2 * math.pi * 5512.5 * t)
    mask = line_band_mask(n, SR, predicted_lines([5512.5], SR), notch_hz=30.0)
    with_line, without = without_lines(speech_like + line, mask), without_lines(speech_like, mask)
    # what the loss still sees of the line is its leakage out of the band (an unwindowed segment):
    # over 20 dB under the line itself
    left = float((with_line - without).pow(2).mean() / line.pow(2).mean())
    assert 10 * math.log10(left) < -20
    assert _level_db(speech_like + line, 5512.5) > _level_db(without, 5512.5) + 40
    # away from the bands the signal is untouched
    away = (mask == 0)
    diff = torch.fft.rfft(without) - torch.fft.rfft(speech_like)
    assert float(diff[..., away].abs().max()) < 1e-3
    assert abs(_level_db(without, 440.0) - _level_db(speech_like, 440.0)) < 0.01
    # the band is the asked width: full within notch_hz, gone beyond twice it (up to the next multiple)
    freqs = torch.fft.rfftfreq(n, 1 / SR)
    assert float(mask[(freqs - 5512.5).abs() <= 30].min()) == 1.0
    assert float(mask[((freqs - 5512.5).abs() > 60) & (freqs < 10900)].max()) == 0.0
    assert float(mask[-1]) == 1.0  # 11025 Hz, the second multiple


def test_a_dense_grid_stays_in_the_loss():
    # V1's first layer puts lines every 86 Hz: notched, most of the spectrum would go unsupervised;
    # only the grids at least 4 notch widths apart are left out
    rates = [SR / 256, SR / 32, SR / 4, SR / 2]
    lines = notched_lines(rates, SR, notch_hz=30.0)
    assert lines == predicted_lines(rates[1:], SR) and SR / 256 not in lines and SR / 32 in lines
    assert notched_lines(rates, SR, notch_hz=0.0) == []
    assert notched_lines(rates, SR, notch_hz=10.0) == predicted_lines(rates, SR)
    mask = line_band_mask(8192, SR, lines, notch_hz=30.0)
    assert 0.1 < float(mask.mean()) < 0.15  # 16 bands of about 90 Hz (full 60, half the edges) of 11025


def test_top_hz_leaves_the_band_above_it_out_and_nothing_below_its_edge():
    gen = torch.Generator().manual_seed(1)
    n = 8192
    mask = line_band_mask(n, SR, [], notch_hz=30.0, top_hz=10000.0)
    freqs = torch.fft.rfftfreq(n, 1 / SR)
    assert float(mask[freqs >= 10000].min()) == 1.0
    assert float(mask[freqs <= 9750].max()) == 0.0
    t = torch.arange(n) / SR
    high = 0.2 * torch.cos(2 * math.pi * 10766.6 * t)  # a sideband of the Nyquist line, 3 frames off it
    noise = 0.1 * torch.randn(1, n, generator=gen)
    assert _level_db(without_lines(noise + high, mask), 10766.6) < _level_db(noise + high, 10766.6) - 40
    assert abs(_level_db(without_lines(noise, mask), 2000.0) - _level_db(noise, 2000.0)) < 1e-3


@pytest.fixture
def tiny_pair():
    """A random tiny HiFi-GAN (hop 256) as teacher, a copy of it as student, and their mel."""
    torch.manual_seed(0)
    teacher = HiFiGAN(**hifigan_preset("tiny"))
    student = copy.deepcopy(teacher)
    return teacher, student, MelSpectrogram()


def _noise(seed: int, batch: int = 4, n: int = 8192) -> torch.Tensor:
    return 0.1 * torch.randn(batch, n, generator=torch.Generator().manual_seed(seed))


def test_line_prominence_reads_a_grid_line_and_not_noise():
    grid = predicted_lines([SR / 256], SR)  # V1's 86 Hz grid: 128 lines
    prominence = LineProminence(8192, SR, grid)
    t = torch.arange(8192) / SR
    k = grid.index(6890.625)
    for seed in range(3):
        quiet = prominence(_noise(seed))
        assert float(quiet.max()) < LINE_MARGIN_DB  # noise alone is never penalised
        lined = prominence(_noise(seed) + 0.02 * torch.sin(2 * math.pi * 6890.625 * t))
        assert float(lined[k]) > 10.0
        others = torch.cat([lined[:k], lined[k + 1:]]) - torch.cat([quiet[:k], quiet[k + 1:]])
        assert float(others.abs().max()) < 0.5  # the neighbours' reading is not moved
    # a tone between two grid lines is no line of the grid
    between = prominence(_noise(0) + 0.02 * torch.sin(2 * math.pi * (6890.625 + 43.0) * t))
    assert float(between.max()) < LINE_MARGIN_DB + 1


def test_line_excess_is_zero_for_the_recordings_own_lines_and_pulls_an_added_one_down():
    grid = predicted_lines([SR / 256], SR)
    prominence = LineProminence(8192, SR, grid)
    t = torch.arange(8192) / SR
    hum = 0.02 * torch.sin(2 * math.pi * 258.3984375 * t)  # a line the recording itself has
    real = _noise(1) + hum
    assert float(line_excess_db(_noise(2) + hum, real, prominence)) == 0.0
    amp = torch.tensor(0.02, requires_grad=True)
    student = _noise(2) + hum + amp * torch.cos(2 * math.pi * 11025.0 * t)
    penalty = line_excess_db(student, real, prominence)
    assert float(penalty.detach()) > 1.0  # over 10 dB past the margin at the Nyquist line
    penalty.backward()
    assert float(amp.grad) > 0  # the gradient asks for a weaker line


def test_the_distiller_adds_the_line_penalty_only_when_asked(tiny_pair):
    teacher, student, mel = tiny_pair
    wav = _noise(3, batch=2, n=4096)
    plain = Distiller(teacher, student, mel, 0, 1e-4).losses(wav)
    assert "lines" not in plain
    grid = predicted_lines([SR / 64], SR)
    lined = Distiller(teacher, student, mel, 0, 1e-4, penalty_hz=grid, line_weight=1.0).losses(wav)
    assert set(lined) == set(plain) | {"lines"} and float(lined["lines"].detach()) >= 0.0
    for key in plain:
        assert torch.equal(plain[key], lined[key])


def test_the_line_penalty_can_only_take_its_share_of_the_step(tiny_pair):
    """Its gradient at the output is capped at line_weight times the distillation's: at a tiny
    weight the step is the plain one, although the penalty's own gradient there is huge."""
    teacher, student, mel = tiny_pair
    wav = _noise(4, batch=2, n=4096)
    grid = predicted_lines([SR / 64], SR)
    after = {}
    for weight in (0.0, 1e-9, 0.5):
        s = copy.deepcopy(student)
        with torch.no_grad():  # one tap of the last x4 layer made large: lines at 5512.5 and 11025 Hz
            s.upsamplers[-1].parametrizations.weight.original1[:, :, 0] += 2.0
        work = Distiller(teacher, s, mel, 0, 1e-3, penalty_hz=grid, line_weight=weight)
        parts = work.step(wav)
        assert ("lines" in parts) == (weight > 0)
        assert weight == 0 or parts["lines"] > 0.5
        after[weight] = torch.cat([p.detach().flatten() for p in s.parameters()])
    assert float((after[1e-9] - after[0.0]).abs().max()) < 1e-6
    assert float((after[0.5] - after[0.0]).abs().max()) > 1e-6


def test_wave_weight_zero_lets_the_student_take_its_own_phase(tiny_pair):
    """A student whose output is the teacher's with the sign flipped (same magnitudes, opposite
    phase) is pulled at the output only through the waveform term: with wave_weight 0 the
    distillation's gradient there is nearly nil, with the default it is not."""
    teacher, student, mel = tiny_pair
    flipped = copy.deepcopy(teacher)
    with torch.no_grad():  # tanh is odd: negating the output convolution negates the waveform
        for name, p in flipped.conv_post.named_parameters():
            if not name.endswith("original1"):  # weight norm: the gain's sign is the weight's
                p.neg_()
    wav = _noise(5, batch=2, n=4096)
    norms = {}
    for weight in (0.0, 10.0):
        work = Distiller(teacher, copy.deepcopy(flipped), mel, 0, 1e-4, wave_weight=weight)
        out, target = work.outputs(wav)
        assert torch.allclose(out, -target, atol=1e-5)
        parts = work.losses(wav, out, target)
        loss = parts["stft"] + parts["mel"] + work.wave_weight * parts["wave"]
        norms[weight] = float(torch.autograd.grad(loss, out)[0].norm())
    assert norms[10.0] > 100 * norms[0.0]


def test_an_istft_student_shares_the_frozen_prefix_and_finishes_with_its_istft():
    from audioup.models import ISTFTNet, istftnet_preset
    from audioup.train.distill import _shares_prefix, frozen_prefix, from_layer

    torch.manual_seed(0)
    student = ISTFTNet(**istftnet_preset("tiny")).eval()
    assert _shares_prefix(student)
    mel = torch.randn(1, 80, 8)
    with torch.no_grad():
        for first in (0, 1, 2):
            assert torch.equal(from_layer(student, frozen_prefix(student, mel, first), first), student(mel))
