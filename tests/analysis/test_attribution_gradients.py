"""Attribution finds the layer with a planted periodic bias; gradients of strided discriminators show lines."""
from __future__ import annotations

import pytest
import torch

from audioup.analysis import find_upsamplers, gradient_spectrum, layer_attribution, time_strides


@pytest.mark.parametrize("plant", [0, 1, 2])
def test_attribution_finds_planted_layer(tiny_generator, mel_input, plant):
    model = tiny_generator(plant=plant)
    result = layer_attribution(model, mel_input, sample_rate=8000)
    names = [t.name for t in result.layers]
    assert names == ["stack.0", "stack.1", "stack.2"]
    assert result.loudest == names[plant]
    planted = result.layers[plant]
    assert planted.prominence_db > 20
    assert planted.output_prominence_db > 15  # and its lines survive to the waveform
    for i, t in enumerate(result.layers):
        if i != plant:
            assert t.prominence_db < 10, (i, t.prominence_db)


def test_attribution_rates_and_clean_model(tiny_generator, mel_input):
    result = layer_attribution(tiny_generator(), mel_input, sample_rate=8000)
    # factors (4, 4, 2) -> 8000 Hz output: input rates 250, 1000, 4000 Hz
    assert [t.in_rate for t in result.layers] == pytest.approx([250.0, 1000.0, 4000.0])
    assert [line.freq for line in result.layers[1].lines] == pytest.approx([1000.0, 2000.0])
    assert max(t.prominence_db for t in result.layers) < 10  # nearest resize adds no lines
    d = result.to_dict()
    assert d["loudest"] in {"stack.0", "stack.1", "stack.2"} and len(d["layers"]) == 3


def test_find_upsamplers_prefers_models_api():
    from audioup.models import build_generator

    generator = build_generator("hifigan", preset="tiny", upsampler="resize-nearest")
    found = find_upsamplers(generator)
    assert [m for _, m in found] == list(generator.upsamplers)
    mel = torch.randn(1, generator.n_mels, 8)
    result = layer_attribution(generator, mel)
    assert result.sample_rate == generator.sample_rate
    assert len(result.layers) == len(generator.upsamplers)


def test_attribution_without_upsampler_is_an_error():
    with pytest.raises(ValueError, match="no upsampling layer"):
        layer_attribution(torch.nn.Conv1d(2, 1, 3), torch.randn(1, 2, 8))


def test_strided_discriminator_has_gradient_lines(discriminator):
    model = discriminator(4)
    assert time_strides(model) == [4]
    result = gradient_spectrum(model, length=4096, sample_rate=16000)
    assert [line.freq for line in result.lines[4]] == pytest.approx([4000.0, 8000.0])
    assert result.prominence_db[4] > 20
    assert all(p.grad is None for p in model.parameters())


def test_unstrided_discriminator_has_none(discriminator):
    model = discriminator(1)
    assert time_strides(model) == []
    result = gradient_spectrum(model, length=4096, sample_rate=16000, strides=[4])
    assert result.prominence_db[4] < 8


def test_discriminator_api_output(discriminator):
    """(logits, features) outputs, as the audioup.models discriminators return, are scored by their logits."""
    inner = discriminator(2)

    class Wrapped(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.inner = inner

        def forward(self, wav):
            out = self.inner(wav)
            return [out], [[out * 0]]

    result = gradient_spectrum(Wrapped(), length=2048, sample_rate=1.0)
    assert result.strides == [2] and result.prominence_db[2] > 20


def test_time_strides_chains_and_period_folding():
    from torch import nn

    chain = nn.Sequential(nn.Conv1d(1, 2, 5, stride=4), nn.Conv1d(2, 2, 3), nn.Conv1d(2, 1, 3, stride=2))
    assert time_strides(chain) == [4, 8]

    class Folded(nn.Module):  # a period discriminator: rows of `period` samples, 2D convs along rows
        def __init__(self, period):
            super().__init__()
            self.period = period
            self.convs = nn.ModuleList([nn.Conv2d(1, 2, (5, 1), (3, 1)), nn.Conv2d(2, 2, (5, 1), (3, 1))])

    both = nn.ModuleList([Folded(2), Folded(5)])
    assert time_strides(both) == [6, 15, 18, 45]
    assert time_strides(nn.Conv2d(1, 1, (3, 1), (2, 1))) == []  # no period: rows are not time
