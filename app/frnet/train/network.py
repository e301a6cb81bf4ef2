"""Mobile-FRNet (Li et al.): a MobileNetV2 backbone with multi-scale blocks, SE and dual attention.

The network maps a normalised 120×120 RGB face crop to the 62 *normalised* 3DMM parameters
(``(params - param_mean) / param_std``; the training code owns those statistics and
de-normalises). It is plain torch so that it exports to ONNX (opset 17, dynamic batch) for the
runtime, which never imports torch.

Layout (the paper's architecture table; ``t`` expansion, ``c`` channels, ``n`` repeats, ``s`` stride)::

    conv2d 3×3                      c=32,  s=2                          120 → 60
    Layer1  t=1  c=16  n=1 s=1  + SE                                    60
    Layer2  t=6  c=24  n=2 s=2  + SE  (+ spatial attention)             30
    Layer3  t=6  c=32  n=3 s=2  + SE                                    15
    Layer4  t=6  c=64  n=4 s=2  + SE                                     8
    Layer5  t=6  c=96  n=3 s=1  + SE                                     8
    Layer6  t=6  c=160 n=3 s=2  + SE                                     4
    Layer7  t=6  c=320 n=1 s=1  + SE                                     4
    conv2d 1×1 1280 (+ channel attention) → global average pool → conv2d 1×1 → 62

Three ingredients on top of MobileNetV2, each switchable so that Table 2's ablations can be built:

* **Multi-scale blocks** (``multiscale``; Res2Net, Gao et al.): inside every inverted residual the
  expanded features are split into ``MULTISCALE_SCALES`` groups and group *i* is filtered after
  adding the output of group *i-1*, so the groups see 3×3, 5×5, 7×7 and 9×9 receptive fields inside
  one block. The per-group 3×3 filters are grouped convolutions ``group_width`` channels wide
  (Res2NeXt-like; width 1 is MobileNetV2's depthwise conv), so the hierarchical sums also mix
  neighbouring channels. Stride-2 blocks filter the groups independently, as Res2Net's "stage"
  blocks do, because group *i-1*'s output already has the reduced resolution.
* **SE after each stage** (``se``; Hu et al.): a squeeze-and-excitation channel gate (reduction
  ``SE_REDUCTION``) on the output of every stage, as in the paper's table. It belongs to the
  paper's MobileBlock stage design, so by default it follows ``multiscale`` and the "no attention"
  ablation keeps it.
* **Dual attention** (``attention``; DAMDNet/CBAM/BAM-like, cheap): a *spatial* attention mask on
  the 30×30 output of Layer2, where the face still has spatial extent, lets the network
  down-weight background and occluders before the deep layers; a *channel* attention (CBAM's
  shared MLP over average- and max-pooled descriptors) gates the 1280 head features before
  pooling, i.e. picks which global features drive the regression for the current face.

Cost (``python -m frnet.train.complexity``; multiply-adds of conv/linear layers at 120×120)::

    network                        params (M)  paper   GMACs   paper GFLOPs
    MobileNetV2 baseline           2.303       2.38    0.0932  0.109   (-3 %, -15 %)
    Mobile-FRNet (no attention)    2.324       2.40    0.0932  0.110   (-3 %, -15 %)
    Mobile-FRNet                   2.535       2.60    0.0981  0.120   (-3 %, -18 %)

**Why the absolute FLOPs are off, and what we chose.** MobileNetV2 itself (its own layout, a 1×1
conv head to 62 outputs; its parameter count equals torchvision's backbone + head) counts 0.0932
GMACs, 15 % below the paper's 0.109. Counting BatchNorm and ReLU as FLOPs (ptflops-style, 0.099)
or BatchNorm only (thop-style, 0.097) does not reproduce 0.109 either, so the gap is in the
paper's counting, not in a layout we could change without ceasing to be MobileNetV2. Measured
*relative to that baseline*, Mobile-FRNet costs +5 % MACs here and +10 % in the paper, and the
parameters are within 3 %. An earlier variant sized to the paper's absolute numbers (3×3 filter
groups 4 channels wide instead of depthwise, ``group_width=4``: 2.73 M / 0.117 G) was 1.8× slower
in ONNX Runtime on one CPU thread and 25 % slower to train, for no accuracy evidence, so the shipped
network uses depthwise filters (``MULTISCALE_GROUP_WIDTH = 1``); ``MobileFRNet(group_width=4)``
still builds it. Further knobs:

* SE reduction 16 (SENet's default): +18 k parameters, ~0 MACs;
* channel attention reduction 16 on the 1280 head: +0.21 M parameters (the paper's +0.2 M);
* spatial attention 16 channels wide at 30×30: +5 M MACs (the paper: +0.010 G).
"""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ..facemodel import NUM_PARAMS

log = logging.getLogger(__name__)

INPUT_SIZE = 120
# Input normalisation, per RGB channel in 0..255 pixel units: ``x = (pixel - INPUT_MEAN) / INPUT_STD``,
# i.e. ``(pixel / 255 - 0.5) / 0.5`` ∈ [-1, 1]. The network itself does not normalise (the ONNX
# runtime does it in numpy, training in the data loader); both must use these constants.
INPUT_MEAN = (127.5, 127.5, 127.5)
INPUT_STD = (127.5, 127.5, 127.5)

# MobileNetV2's inverted-residual stages: (expansion t, output channels c, repeats n, first stride s).
STAGES = (
    (1, 16, 1, 1),
    (6, 24, 2, 2),
    (6, 32, 3, 2),
    (6, 64, 4, 2),
    (6, 96, 3, 1),
    (6, 160, 3, 2),
    (6, 320, 1, 1),
)
STEM_CHANNELS = 32
HEAD_CHANNELS = 1280

# Design knobs, sized to the paper's Table 2 (see the module docstring).
MULTISCALE_SCALES = 4  # Res2Net's default scale s = 4
MULTISCALE_GROUP_WIDTH = 1  # channels per 3×3 filter group inside a scale group (1 = depthwise; see module doc)
SE_REDUCTION = 16  # SENet's default
SE_MIN_HIDDEN = 8
CHANNEL_ATTENTION_REDUCTION = 16  # CBAM's default
SPATIAL_ATTENTION_STAGE = 1  # index into STAGES: after Layer2 (30×30 at 120×120 input)
SPATIAL_ATTENTION_CHANNELS = 16
SPATIAL_ATTENTION_DILATION = 2


def make_divisible(value: float, divisor: int = 8) -> int:
    """MobileNetV2's channel rounding: nearest multiple of ``divisor``, never more than 10 % lower."""
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def normalize_input(images: torch.Tensor) -> torch.Tensor:
    """``(B, 3, H, W)`` RGB images in 0..255 → the network's input scale (see ``INPUT_MEAN``)."""
    mean = torch.tensor(INPUT_MEAN, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    std = torch.tensor(INPUT_STD, dtype=images.dtype, device=images.device).view(1, 3, 1, 1)
    return (images - mean) / std


class ConvBNAct(nn.Sequential):
    """Conv (no bias: BatchNorm follows) → BatchNorm → ReLU6 (or nothing for a linear bottleneck)."""

    def __init__(self, in_ch: int, out_ch: int, kernel: int = 3, stride: int = 1, groups: int = 1,
                 dilation: int = 1, activation: bool = True) -> None:
        padding = dilation * (kernel - 1) // 2
        layers: list[nn.Module] = [
            nn.Conv2d(in_ch, out_ch, kernel, stride, padding, dilation=dilation, groups=groups, bias=False),
            nn.BatchNorm2d(out_ch),
        ]
        if activation:
            layers.append(nn.ReLU6(inplace=True))
        super().__init__(*layers)


class MultiScaleFilter(nn.Module):
    """Res2Net-style hierarchical 3×3 filter groups replacing MobileNetV2's depthwise 3×3.

    The ``channels`` inputs are split into ``scales`` equal groups ``x_1 … x_s``. With stride 1,
    ``y_1 = K_1(x_1)`` and ``y_i = K_i(x_i + y_{i-1})``: every group adds one 3×3 to the receptive
    field of the previous one, so one block holds several scales at no extra cost over a
    depthwise conv of the same group width. With stride 2 the groups are filtered independently
    (Res2Net's "stage" blocks). Each ``K_i`` is a grouped 3×3 conv ``group_width`` channels per
    group, followed by BatchNorm and ReLU6.
    """

    def __init__(self, channels: int, stride: int, scales: int, group_width: int) -> None:
        super().__init__()
        if channels % scales:
            raise ValueError(f"{channels} channels cannot be split into {scales} equal scale groups")
        width = channels // scales
        groups = width // group_width if width % group_width == 0 else width
        self.width = width
        self.hierarchical = stride == 1 and scales > 1
        self.filters = nn.ModuleList(ConvBNAct(width, width, 3, stride, groups=groups) for _ in range(scales))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        parts = torch.split(x, self.width, dim=1)
        outputs: list[torch.Tensor] = []
        previous: torch.Tensor | None = None
        for part, conv in zip(parts, self.filters):
            if self.hierarchical and previous is not None:
                part = part + previous
            previous = conv(part)
            outputs.append(previous)
        return torch.cat(outputs, dim=1)


class InvertedResidual(nn.Module):
    """MobileNetV2's block: 1×1 expand → 3×3 spatial filter → 1×1 linear projection (+ identity)."""

    def __init__(self, in_ch: int, out_ch: int, stride: int, expansion: int, multiscale: bool,
                 group_width: int = MULTISCALE_GROUP_WIDTH) -> None:
        super().__init__()
        hidden = in_ch * expansion
        layers: list[nn.Module] = []
        if expansion != 1:
            layers.append(ConvBNAct(in_ch, hidden, kernel=1))
        if multiscale:
            layers.append(MultiScaleFilter(hidden, stride, MULTISCALE_SCALES, group_width))
        else:
            layers.append(ConvBNAct(hidden, hidden, 3, stride, groups=hidden))
        layers.append(ConvBNAct(hidden, out_ch, kernel=1, activation=False))
        self.body = nn.Sequential(*layers)
        self.use_residual = stride == 1 and in_ch == out_ch

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.body(x)
        return x + out if self.use_residual else out


class SqueezeExcite(nn.Module):
    """SE channel gate: global average → bottleneck MLP (1×1 convs) → sigmoid → rescale channels."""

    def __init__(self, channels: int, reduction: int = SE_REDUCTION) -> None:
        super().__init__()
        hidden = max(SE_MIN_HIDDEN, channels // reduction)
        self.reduce = nn.Conv2d(channels, hidden, 1)
        self.expand = nn.Conv2d(hidden, channels, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        # Global pooling rather than ``x.mean(dim=(2, 3))``: the same numbers, but it exports as ONNX
        # GlobalAveragePool, which ONNX Runtime runs in int8 (ReduceMean needs a dequantise/quantise
        # pair around it in the int8 graph; measured −4 % latency with the channel attention's pools).
        weights = F.adaptive_avg_pool2d(x, 1)
        weights = torch.sigmoid(self.expand(torch.relu(self.reduce(weights))))
        return x * weights


class ChannelAttention(nn.Module):
    """CBAM's channel attention: a shared MLP on the average- and max-pooled descriptors.

    Max pooling complements SE's average: a feature that fires strongly on a small face part
    (an eye corner, a lip contour) still gets through even when its spatial mean is small.
    """

    def __init__(self, channels: int, reduction: int = CHANNEL_ATTENTION_REDUCTION) -> None:
        super().__init__()
        hidden = max(8, channels // reduction)
        self.mlp = nn.Sequential(nn.Conv2d(channels, hidden, 1), nn.ReLU(inplace=True), nn.Conv2d(hidden, channels, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        avg = F.adaptive_avg_pool2d(x, 1)  # = mean / max over (H, W); pools export int8-friendly (see SE)
        peak = F.adaptive_max_pool2d(x, 1)
        return x * torch.sigmoid(self.mlp(avg) + self.mlp(peak))


class SpatialAttention(nn.Module):
    """BAM-style spatial attention: a small conv branch predicts one ``(B, 1, H, W)`` sigmoid mask.

    1×1 reduce to ``hidden`` channels → two 3×3 convs with dilation 2 (a 9×9 context, a third of
    the 30×30 map, enough to tell a face part from background) → 1×1 to one map, which also sees
    CBAM's channel-mean and channel-max maps as a shortcut. The mask is applied residually,
    ``x · (1 + mask)``, so an untrained mask cannot switch features off.
    """

    def __init__(self, channels: int, hidden: int = SPATIAL_ATTENTION_CHANNELS,
                 dilation: int = SPATIAL_ATTENTION_DILATION) -> None:
        super().__init__()
        self.branch = nn.Sequential(
            ConvBNAct(channels, hidden, kernel=1),
            ConvBNAct(hidden, hidden, kernel=3, dilation=dilation),
            ConvBNAct(hidden, hidden, kernel=3, dilation=dilation),
        )
        self.to_mask = nn.Conv2d(hidden + 2, 1, kernel_size=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pooled = torch.cat([x.mean(dim=1, keepdim=True), x.amax(dim=1, keepdim=True)], dim=1)
        mask = torch.sigmoid(self.to_mask(torch.cat([self.branch(x), pooled], dim=1)))
        return x * (1.0 + mask)


class MobileFRNet(nn.Module):
    """Mobile-FRNet: ``(B, 3, 120, 120)`` normalised RGB crops → ``(B, num_params)`` normalised params.

    Args:
        num_params: outputs (62 = 12 pose + 40 identity + 10 expression).
        width_mult: MobileNetV2's channel multiplier (channels rounded to multiples of 8).
        attention: the spatial + channel dual attention (the paper's "attention").
        multiscale: Res2Net-style filter groups inside the blocks; ``False`` gives depthwise 3×3.
        se: SE after each stage; ``None`` follows ``multiscale`` so that ``attention=False,
            multiscale=False`` is exactly MobileNetV2 and ``attention=False`` alone is the paper's
            "Mobile-FRNet (no attention)".
        group_width: channels per 3×3 filter group inside the multi-scale groups (1 = depthwise,
            MobileNetV2's cost; the default 4 is sized to the paper's FLOPs, see the module doc).

    Any input size works (the head pools globally); costs in the docstring are for 120×120.
    """

    def __init__(self, num_params: int = NUM_PARAMS, width_mult: float = 1.0, attention: bool = True,
                 multiscale: bool = True, se: bool | None = None,
                 group_width: int = MULTISCALE_GROUP_WIDTH) -> None:
        super().__init__()
        if width_mult <= 0:
            raise ValueError(f"width_mult must be positive, got {width_mult}")
        if group_width < 1:
            raise ValueError(f"group_width must be at least 1, got {group_width}")
        se = multiscale if se is None else se
        self.config = {"num_params": num_params, "width_mult": width_mult, "attention": attention,
                       "multiscale": multiscale, "se": se, "group_width": group_width}
        in_ch = make_divisible(STEM_CHANNELS * width_mult)
        self.stem = ConvBNAct(3, in_ch, kernel=3, stride=2)
        stages: list[nn.Module] = []
        for index, (expansion, channels, repeats, stride) in enumerate(STAGES):
            out_ch = make_divisible(channels * width_mult)
            blocks: list[nn.Module] = []
            for repeat in range(repeats):
                blocks.append(InvertedResidual(in_ch, out_ch, stride if repeat == 0 else 1, expansion,
                                               multiscale, group_width))
                in_ch = out_ch
            if se:
                blocks.append(SqueezeExcite(out_ch))
            if attention and index == SPATIAL_ATTENTION_STAGE:
                blocks.append(SpatialAttention(out_ch))
            stages.append(nn.Sequential(*blocks))
        self.stages = nn.Sequential(*stages)
        head_ch = make_divisible(HEAD_CHANNELS * width_mult) if width_mult > 1.0 else HEAD_CHANNELS
        self.head = ConvBNAct(in_ch, head_ch, kernel=1)
        self.channel_attention = ChannelAttention(head_ch) if attention else nn.Identity()
        self.pool = nn.AdaptiveAvgPool2d(1)
        self.regressor = nn.Conv2d(head_ch, num_params, kernel_size=1)
        self._init_weights()

    def _init_weights(self) -> None:
        """MobileNetV2's initialisation; the regressor starts small so early outputs sit near the
        mean parameters (zero in normalised units) without being exactly constant."""
        for module in self.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out")
                if module.bias is not None:
                    nn.init.zeros_(module.bias)
            elif isinstance(module, nn.BatchNorm2d):
                nn.init.ones_(module.weight)
                nn.init.zeros_(module.bias)
        nn.init.normal_(self.regressor.weight, std=0.01)
        nn.init.zeros_(self.regressor.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.stages(self.stem(x))
        x = self.channel_attention(self.head(x))
        return self.regressor(self.pool(x)).flatten(1)


def fuse_for_inference(model: nn.Module) -> int:
    """Rewrite ``model`` (in place) into a faster, numerically identical form for export; returns
    the number of rewrites.

    A stride-2 ``MultiScaleFilter`` with depthwise groups (``group_width=1``) filters its scale
    groups independently, so its split → four convolutions → concat equals one depthwise
    convolution over all channels with the groups' kernels and BatchNorms stacked. ONNX Runtime
    then runs one operator instead of six (measured: −5 % latency of the int8 graph on one
    thread). Stride-1 (hierarchical) filters cannot be fused (group *i* needs group *i-1*'s
    output); where their groups are not a multiple of ``FAST_DEPTHWISE_CHANNELS`` wide, their
    block is padded with zero channels instead (:func:`pad_scale_groups`, also exact). The
    model must be in eval mode (BatchNorm running statistics are copied). Parameter names
    and shapes of the *training* network are untouched: this runs on a copy at export.
    """
    rewrites = 0
    for name, child in list(model.named_children()):
        if isinstance(child, InvertedResidual) and pad_scale_groups(child):
            rewrites += 1
        elif isinstance(child, MultiScaleFilter) and not child.hierarchical:
            convs = [f[0] for f in child.filters]
            norms = [f[1] for f in child.filters]
            if not all(c.groups == c.in_channels == c.out_channels for c in convs):
                continue  # grouped (group_width > 1) filters: stacking would need a block-diagonal kernel
            channels = sum(c.out_channels for c in convs)
            fused = ConvBNAct(channels, channels, 3, convs[0].stride[0], groups=channels)
            with torch.no_grad():
                fused[0].weight.copy_(torch.cat([c.weight for c in convs]))
                for attr in ("weight", "bias", "running_mean", "running_var"):
                    getattr(fused[1], attr).copy_(torch.cat([getattr(n, attr) for n in norms]))
            fused[1].eps = norms[0].eps
            setattr(model, name, fused.train(child.training))
            rewrites += 1
        else:
            rewrites += fuse_for_inference(child)
    return rewrites


FAST_DEPTHWISE_CHANNELS = 16  # ONNX Runtime's int8 depthwise kernel (x86) is fast for multiples of this


def _copy_bn(target: nn.BatchNorm2d, source: nn.BatchNorm2d, index: torch.Tensor | slice) -> None:
    """``source``'s statistics into ``target``'s channels ``index``; the other channels of ``target``
    become exact zeros (scale 0, shift 0)."""
    with torch.no_grad():
        target.weight.zero_(), target.bias.zero_(), target.running_mean.zero_(), target.running_var.fill_(1.0)
        for attr in ("weight", "bias", "running_mean", "running_var"):
            getattr(target, attr)[index] = getattr(source, attr)
    target.eps = source.eps


def pad_scale_groups(block: nn.Module, multiple: int = FAST_DEPTHWISE_CHANNELS) -> bool:
    """Pad the scale groups of ``block`` (an :class:`InvertedResidual` with a hierarchical,
    depthwise :class:`MultiScaleFilter`) with all-zero channels to a multiple of ``multiple``
    channels each, in place; returns whether it did.

    Exact: a padded channel has zero expansion weights and zero BatchNorm scale and shift, so it
    is 0 after ReLU6, stays 0 through the depthwise filters and the hierarchical sums, and the
    projection gives it zero weights. Why: ONNX Runtime's int8 depthwise 3×3 kernel runs 16-channel
    blocks; Layer2's 36-channel groups at 30×30 took 1.7–1.8× the time of 48-channel ones
    (``scripts/bench_graphs.py --depthwise``),
    so the 33 % more channels cost less than the odd width. Blocks without an expansion conv
    (Layer1) and groups already a multiple are left alone.
    """
    layers = list(getattr(block, "body", ()))
    if len(layers) != 3 or not isinstance(layers[1], MultiScaleFilter):
        return False
    expand, scale_filter, project = layers
    width = scale_filter.width
    convs = [f[0] for f in scale_filter.filters]
    if (not scale_filter.hierarchical or width % multiple == 0
            or not all(c.groups == c.in_channels == c.out_channels for c in convs)):
        return False
    padded = -(-width // multiple) * multiple
    scales = len(convs)
    real = torch.cat([torch.arange(width) + i * padded for i in range(scales)])  # real channels' new positions
    new_expand = ConvBNAct(expand[0].in_channels, scales * padded, kernel=1)
    new_filter = MultiScaleFilter(scales * padded, 1, scales, 1)
    new_project = ConvBNAct(scales * padded, project[0].out_channels, kernel=1, activation=False)
    with torch.no_grad():
        new_expand[0].weight.zero_()
        new_expand[0].weight[real] = expand[0].weight
        _copy_bn(new_expand[1], expand[1], real)
        for new, old in zip(new_filter.filters, scale_filter.filters):
            new[0].weight.zero_()
            new[0].weight[:width] = old[0].weight
            _copy_bn(new[1], old[1], slice(0, width))
        new_project[0].weight.zero_()
        new_project[0].weight[:, real] = project[0].weight
        _copy_bn(new_project[1], project[1], slice(None))
    block.body = nn.Sequential(new_expand, new_filter, new_project).train(block.training)
    return True


def mobilenet_v2_baseline(num_params: int = NUM_PARAMS, width_mult: float = 1.0) -> MobileFRNet:
    """The plain MobileNetV2 of Table 2 (no multi-scale groups, no SE, no attention)."""
    return MobileFRNet(num_params, width_mult, attention=False, multiscale=False, se=False)


def count_parameters(model: nn.Module) -> int:
    """Trainable parameters (BatchNorm running statistics excluded, as in the paper's counts)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad)


def export_onnx(model: nn.Module, path: str | Path, opset: int = 17) -> Path:
    """Export ``model`` (in eval mode) to ONNX with a dynamic batch axis; written atomically.

    Input ``"input"`` is ``(batch, 3, 120, 120)`` float32 normalised as ``INPUT_MEAN``/``INPUT_STD``
    say; output ``"params"`` is ``(batch, num_params)`` normalised parameters.

    Uses the TorchScript exporter (``dynamo=False``) on purpose: in torch 2.13 the dynamo exporter
    only implements opset ≥ 18, its down-conversion of this graph to 17 fails (the file silently
    stays at opset 18) and it takes ~16 s instead of <1 s. Its deprecation warning is silenced here.
    """
    path = Path(path)
    tmp = path.with_name(path.name + ".part")
    was_training = model.training
    model.eval()
    try:
        dummy = torch.zeros(1, 3, INPUT_SIZE, INPUT_SIZE)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            torch.onnx.export(
                model, (dummy,), str(tmp), input_names=["input"], output_names=["params"],
                dynamic_axes={"input": {0: "batch"}, "params": {0: "batch"}},
                opset_version=opset, do_constant_folding=True, dynamo=False,
            )
        os.replace(tmp, path)
    finally:
        model.train(was_training)
        if tmp.exists():
            tmp.unlink()
    log.info("exported %s to %s (opset %d)", type(model).__name__, path, opset)
    return path
