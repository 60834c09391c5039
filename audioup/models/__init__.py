"""Vocoder networks whose only difference is the upsampling layer.

- :mod:`.hifigan`: :class:`HiFiGAN` generator and its paper presets (:func:`hifigan_preset`).
- :mod:`.bigvgan`: :class:`BigVGAN`-style generator with AMP blocks (:func:`bigvgan_preset`).
- :mod:`.vocos`: :class:`Vocos`-style generator: ConvNeXt at frame rate, then one inverse STFT
  (:func:`vocos_preset`).
- :mod:`.istftnet`: :class:`ISTFTNet`-style generator: HiFi-GAN's trunk with its last upsampling
  layers replaced by a small inverse STFT (:func:`istftnet_preset`).
- :mod:`.istft`: :class:`InverseSTFT`, an inverse STFT as a matrix product and overlap-add
  (TorchScript and ONNX export), checked against ``torch.istft``.
- :mod:`.upsampling`: the upsampling stack both generators build from
  :func:`audioup.layers.build_upsampler` (kernel sizes, initialisation, weight norm) and a new
  generator's level calibration (:func:`~.upsampling.calibrate_levels_`, an explicit step).
- :mod:`.resblocks`: HiFi-GAN's residual blocks, multi-receptive-field fusion, weight-norm helpers.
- :mod:`.activations`: Snake / SnakeBeta and the anti-aliased (2x resampled) activation.
- :mod:`.discriminators`: multi-period, multi-scale and multi-resolution discriminators.
- :mod:`.losses`: least-squares GAN, feature matching, mel L1, multi-resolution STFT.
- :mod:`.registry`: :func:`build_generator` by name and preset; the ``{"name", "kwargs"}`` config a
  checkpoint stores (:func:`~.registry.generator_config`, :func:`~.registry.build_generator_from`).
- :mod:`.checkpoint`: reading checkpoints (audioup's, official HiFi-GAN files, ``pretrained:NAME``)
  for inference, conversion and fine-tuning (:func:`~.checkpoint.read_generator`).
- :mod:`.official`: the official HiFi-GAN format: config.json and the key mapping.
- :mod:`.convert`: a trained transposed generator projected onto another upsampler kind.
"""
from .activations import AntiAliasedActivation, DownSample2x, Snake, SnakeBeta, UpSample2x, snake, snake_beta
from .discriminators import (
    CombinedDiscriminator, MultiPeriodDiscriminator, MultiResolutionDiscriminator, MultiScaleDiscriminator,
    build_discriminators,
)
from .losses import (
    FEATURE_MATCHING_WEIGHT, MEL_WEIGHT, MultiResolutionSTFTLoss, discriminator_loss, feature_matching_loss,
    generator_adversarial_loss, mel_l1_loss, multi_resolution_stft_loss,
)
from .bigvgan import AMPBlock, BigVGAN, bigvgan_preset
from .hifigan import HiFiGAN, hifigan_preset
from .istft import InverseSTFT
from .istftnet import ISTFTNet, istftnet_preset
from .vocos import Vocos, vocos_preset
from .registry import GENERATORS, build_generator
from .resblocks import MRF, ResBlock1, ResBlock2, remove_weight_norm_
from .upsampling import calibrate_levels_

__all__ = [
    "HiFiGAN", "hifigan_preset", "BigVGAN", "bigvgan_preset", "build_generator", "GENERATORS", "calibrate_levels_",
    "Vocos", "vocos_preset", "ISTFTNet", "istftnet_preset", "InverseSTFT",
    "ResBlock1", "ResBlock2", "MRF", "AMPBlock", "remove_weight_norm_",
    "MultiPeriodDiscriminator", "MultiScaleDiscriminator", "MultiResolutionDiscriminator",
    "CombinedDiscriminator", "build_discriminators",
    "discriminator_loss", "generator_adversarial_loss", "feature_matching_loss", "mel_l1_loss",
    "MultiResolutionSTFTLoss", "multi_resolution_stft_loss", "FEATURE_MATCHING_WEIGHT", "MEL_WEIGHT",
    "Snake", "SnakeBeta", "snake", "snake_beta", "AntiAliasedActivation", "UpSample2x", "DownSample2x",
]
