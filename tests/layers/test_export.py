"""Every kind through TorchScript, torch.compile and ONNX agrees with eager."""
from __future__ import annotations

import warnings

import pytest
import torch

from audioup.layers import build_upsampler

SPECS = ["transposed", "resize-nearest", "resize-linear", "subpixel-icnr", "sinc"]


def _layer(spec):
    torch.manual_seed(0)
    return build_upsampler(spec, 4, 3, 4).eval()


# TorchScript is deprecated in torch >= 2.10 but still how many deployments load models; the README
# promises it works, so it stays covered. Only its own deprecation notice is silenced.
@pytest.mark.filterwarnings(r"ignore:`torch\.jit\.\w+` is deprecated:FutureWarning")
@pytest.mark.parametrize("spec", SPECS)
def test_torchscript_script_and_trace(spec):
    layer = _layer(spec)
    x = torch.randn(2, 4, 50)
    ref = layer(x)
    scripted = torch.jit.script(layer)
    torch.testing.assert_close(scripted(x), ref)
    traced = torch.jit.trace(layer, torch.randn(2, 4, 50))
    torch.testing.assert_close(traced(x), ref)


@pytest.mark.parametrize("spec", SPECS)
def test_torch_export_matches_eager(spec):
    """torch.export, the replacement the deprecation notice points to."""
    layer = _layer(spec)
    x = torch.randn(2, 4, 50)
    exported = torch.export.export(layer, (x,))
    torch.testing.assert_close(exported.module()(x), layer(x))


@pytest.mark.slow
@pytest.mark.parametrize("spec", SPECS)
def test_torch_compile(spec):
    layer = _layer(spec)
    x = torch.randn(2, 4, 50)
    compiled = torch.compile(layer, dynamic=False)
    torch.testing.assert_close(compiled(x), layer(x), rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("spec", SPECS)
def test_onnx_export_matches_eager(spec, tmp_path):
    ort = pytest.importorskip("onnxruntime")  # part of the dev extra; missing only outside it
    layer = _layer(spec)
    x = torch.randn(1, 4, 50)
    path = tmp_path / "layer.onnx"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(layer, (x,), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "batch", 2: "time"}}, dynamo=False)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for length in (50, 23):  # a different length than the one exported with
        x = torch.randn(1, 4, length)
        (y,) = session.run(None, {"x": x.numpy()})
        torch.testing.assert_close(torch.from_numpy(y), layer(x), rtol=1e-4, atol=1e-5)
