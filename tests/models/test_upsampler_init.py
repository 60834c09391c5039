"""Per-kind initialisation: every upsampler starts with a transposed layer's white-noise gain."""
import math

import pytest
import torch

from audioup.models.upsampling import (build_upsampling_stack, transposed_rms, white_noise_rms)

KINDS = ["transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"]
CHANNELS, FACTORS, KERNELS = [64, 32, 16, 8], [8, 8, 4], [16, 16, 8]


@pytest.mark.parametrize("kind", KINDS)
def test_matched_gain_equals_transposed(kind):
    torch.manual_seed(0)
    stack = build_upsampling_stack(kind, CHANNELS, FACTORS, KERNELS, use_weight_norm=False)
    for layer, c_in, s, k in zip(stack, CHANNELS, FACTORS, KERNELS):
        measured = white_noise_rms(layer, c_in, seed=7)  # other noise than the one it was matched on
        # transposed itself is not rescaled: its draw lands within sampling error of the expectation
        tol = 0.15 if kind == "transposed" else 0.05
        assert measured == pytest.approx(transposed_rms(c_in, s, k), rel=tol)


def test_hifigan_init_differs_and_rng_is_untouched():
    torch.manual_seed(0)
    plain = build_upsampling_stack("resize-nearest", CHANNELS, FACTORS, KERNELS, use_weight_norm=False,
                                   init="hifigan")
    after_plain = torch.rand(3)
    torch.manual_seed(0)
    matched = build_upsampling_stack("resize-nearest", CHANNELS, FACTORS, KERNELS, use_weight_norm=False)
    after_matched = torch.rand(3)
    assert torch.equal(after_plain, after_matched)  # the gain measurement draws from its own generator
    ratio = white_noise_rms(plain[0], CHANNELS[0]) / transposed_rms(CHANNELS[0], FACTORS[0], KERNELS[0])
    assert abs(20 * math.log10(ratio)) > 3  # nearest resize + 16-tap conv is louder than transposed
    # the matched layer is the same draw, only scaled
    w0, w1 = plain[0].weight.flatten(), matched[0].weight.flatten()
    assert torch.allclose(w1 / w0, (w1 / w0)[0].expand_as(w0), rtol=1e-4)
    with pytest.raises(ValueError, match="init must be one of"):
        build_upsampling_stack("sinc", CHANNELS, FACTORS, KERNELS, init="xavier")


# ----------------------------------------------------------------------------- level calibration on real speech

def _speech_mel(speech_22k, frames=96):
    from audioup.audio.mel import MelSpectrogram

    mel = MelSpectrogram(sample_rate=22050, n_fft=1024, hop_length=256, n_mels=80, f_max=8000.0)
    return torch.cat([mel(torch.from_numpy(w[:frames * 256]).unsqueeze(0)) for w in speech_22k])


def _output_db(generator, mel):
    from audioup.models.upsampling import _stage_outputs, ac_power

    return 10 * math.log10(ac_power(_stage_outputs(generator, mel)[-1]))


@pytest.mark.parametrize("kind", ["resize-nearest", "resize-linear", "subpixel-icnr", "sinc"])
def test_match_output_levels_on_speech(kind, speech_22k):
    from audioup.models import HiFiGAN, hifigan_preset
    from audioup.models.upsampling import match_output_levels_, transposed_twin

    mel = _speech_mel(speech_22k)
    torch.manual_seed(0)
    gen = HiFiGAN(**hifigan_preset("tiny"), upsampler=kind, upsampler_init="matched")
    channels = [32, 16, 8, 4]
    twins = [transposed_twin(gen, channels, seed) for seed in range(4)]
    target_db = 10 * math.log10(sum(10 ** (_output_db(t, mel) / 10) for t in twins) / len(twins))
    before_db = _output_db(gen, mel)
    v_before = gen.upsamplers[0].parametrizations.weight.original1.clone()
    state = torch.get_rng_state()
    scales = match_output_levels_(gen, channels, mel)
    assert torch.equal(torch.get_rng_state(), state)  # twins drew under fork_rng
    # weight norm: only the gain g moved, the direction v is the same draw
    assert torch.equal(gen.upsamplers[0].parametrizations.weight.original1, v_before)
    assert any(abs(math.log(s)) > 0.1 for s in scales)
    after_db = _output_db(gen, mel)
    # the DC-removed output level on the speech mel is the transposed generators' (mean power of 4 draws)
    assert after_db == pytest.approx(target_db, abs=0.5), (before_db, after_db, target_db)
    assert abs(before_db - target_db) > 1.0  # it was not already there


def test_match_output_levels_leaves_transposed(speech_22k):
    from audioup.models import HiFiGAN, hifigan_preset
    from audioup.models.upsampling import match_output_levels_

    torch.manual_seed(0)
    gen = HiFiGAN(**hifigan_preset("tiny"))
    before = [p.clone() for p in gen.parameters()]
    assert match_output_levels_(gen, [32, 16, 8, 4], _speech_mel(speech_22k)) == [1.0, 1.0, 1.0]
    assert all(torch.equal(a, b) for a, b in zip(before, gen.parameters()))


def _speech_level_db(generator, speech_22k):
    """DC-removed level of the generator's output on the bundled speech re the speech, dB."""
    from audioup.audio.mel import MelSpectrogram
    from audioup.metrics import level_db

    mel = MelSpectrogram()
    powers = []
    for wav in speech_22k:
        with torch.no_grad():
            out = generator(mel(torch.from_numpy(wav).unsqueeze(0))).squeeze().numpy()
        n = min(len(out), len(wav))
        powers.append(10 ** (level_db(out[:n], wav[:n]) / 10))
    return 10 * math.log10(sum(powers) / len(powers))


def _offset_from_transposed_db(kind, init, speech_22k, seed=0):
    """Level on real speech minus the level transposed upsamplers give in the same network
    (mean power of 4 draws; one tiny network's level varies by 10 dB and more between draws)."""
    from audioup.models import HiFiGAN, hifigan_preset
    from audioup.models.upsampling import calibrate_levels_, transposed_twin

    torch.manual_seed(seed)
    gen = HiFiGAN(**hifigan_preset("tiny"), upsampler=kind, upsampler_init=init)
    calibrate_levels_(gen)  # what a fresh training run does next (nothing unless init is "level")
    twins = [_speech_level_db(transposed_twin(gen, [32, 16, 8, 4], s), speech_22k) for s in range(4)]
    expected = 10 * math.log10(sum(10 ** (t / 10) for t in twins) / len(twins))
    return _speech_level_db(gen, speech_22k) - expected


@pytest.mark.parametrize("kind", ["resize-nearest", "resize-linear", "subpixel-icnr", "sinc"])
def test_level_init_matches_transposed_on_real_speech(kind, speech_22k):
    """Calibrated on the synthetic probe (calibrate_levels_), measured on the bundled speech:
    the output level with DC removed is within 6 dB of transposed's (measured -5..+5 dB
    over 4 seeds x 4 kinds)."""
    assert abs(_offset_from_transposed_db(kind, "level", speech_22k)) < 6.0


def test_white_noise_match_alone_leaves_a_quiet_start(speech_22k):
    """What the level init fixes: nearest resize matched on white noise only starts far below."""
    assert _offset_from_transposed_db("resize-nearest", "matched", speech_22k) < -20.0
