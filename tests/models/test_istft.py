"""InverseSTFT: torch.istft's numbers, perfect reconstruction of the mel front end's STFT, export."""
from __future__ import annotations

import warnings

import pytest
import torch

from audioup.audio.mel import padded_stft
from audioup.models.istft import InverseSTFT, hann_window

SIZES = [(1024, 256, 1024), (16, 4, 16), (512, 128, 400)]  # (n_fft, hop, win_length)


def _spectrum(n_fft, hop, win, frames=12, batch=2, seed=0):
    """The STFT (center=True) of noise: a spectrum torch.istft inverts exactly."""
    gen = torch.Generator().manual_seed(seed)
    x = torch.randn(batch, hop * frames, generator=gen)
    window = hann_window(win, n_fft).float()
    return torch.stft(x, n_fft, hop, window=window, center=True, return_complex=True), window


def _scripted(module):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.jit's deprecation notice
        return torch.jit.script(module)


@pytest.mark.parametrize("n_fft,hop,win", SIZES)
def test_center_matches_torch_istft(n_fft, hop, win):
    spec, window = _spectrum(n_fft, hop, win)
    ref = torch.istft(spec, n_fft, hop, win_length=n_fft, window=window, center=True)
    module = InverseSTFT(n_fft, hop, win, padding="center")
    torch.testing.assert_close(module(spec.real, spec.imag), ref, rtol=0, atol=1e-5)
    # the scripted module takes the matrix path (no FFT): the same numbers
    torch.testing.assert_close(_scripted(module)(spec.real, spec.imag), ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop,win", SIZES)
def test_same_is_center_shifted_by_half_a_hop(n_fft, hop, win):
    """'same' frames are centred half a hop later: the same samples, N * hop of them."""
    spec, window = _spectrum(n_fft, hop, win)
    ref = torch.istft(spec, n_fft, hop, win_length=n_fft, window=window, center=True)
    y = InverseSTFT(n_fft, hop, win, padding="same")(spec.real, spec.imag)
    assert y.shape[-1] == spec.shape[-1] * hop
    torch.testing.assert_close(y[:, hop // 2:hop // 2 + ref.shape[-1]], ref, rtol=0, atol=1e-5)


@pytest.mark.parametrize("n_fft,hop", [(1024, 256), (16, 4)])
def test_same_inverts_the_mel_front_ends_stft(n_fft, hop):
    """padded_stft (HiFi-GAN framing, reflect padding) -> InverseSTFT('same') is the identity, edges too."""
    x = torch.randn(3, hop * 25, generator=torch.Generator().manual_seed(1))
    spec = padded_stft(x, n_fft, hop, torch.hann_window(n_fft))
    y = InverseSTFT(n_fft, hop)(spec.real, spec.imag)
    torch.testing.assert_close(y, x, rtol=0, atol=1e-5)
    # batched == one at a time
    torch.testing.assert_close(InverseSTFT(n_fft, hop)(spec.real[1:2], spec.imag[1:2]), y[1:2])


def test_buffers_are_not_saved_and_arguments_are_checked():
    module = InverseSTFT(1024, 256)
    assert dict(module.state_dict()) == {}  # they follow from the arguments
    with pytest.raises(ValueError, match="multiple of hop_length"):
        InverseSTFT(1000, 256)
    with pytest.raises(ValueError, match="padding"):
        InverseSTFT(16, 4, padding="valid")
    with pytest.raises(ValueError, match="win_length"):
        InverseSTFT(16, 4, win_length=32)


def test_gradient_reaches_the_spectrum():
    spec, _ = _spectrum(16, 4, 16)
    real, imag = spec.real.clone().requires_grad_(), spec.imag.clone().requires_grad_()
    InverseSTFT(16, 4)(real, imag).pow(2).sum().backward()
    assert real.grad.abs().sum() > 0 and imag.grad.abs().sum() > 0


def test_onnx_export_matches_for_other_frame_counts(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    module = InverseSTFT(64, 16)
    spec, _ = _spectrum(64, 16, 64, frames=10, batch=1)
    path = tmp_path / "istft.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(module, (spec.real, spec.imag), str(path), input_names=["real", "imag"],
                          output_names=["y"], dynamic_axes={"real": {0: "b", 2: "n"}, "imag": {0: "b", 2: "n"}},
                          dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for frames in (10, 3, 41):
        spec, _ = _spectrum(64, 16, 64, frames=frames, batch=2, seed=frames)
        (y,) = session.run(None, {"real": spec.real.numpy(), "imag": spec.imag.numpy()})
        torch.testing.assert_close(torch.from_numpy(y), module(spec.real, spec.imag), rtol=0, atol=1e-5)
