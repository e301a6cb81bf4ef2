"""Model complexity: parameter and multiply-add counts of the Table 2 networks (``python -m frnet.train.complexity``).

FLOPs are counted the way the paper's GFLOPs column is meant (and as usual for mobile networks):
one multiply-add (MAC) per weight use in a convolution or linear layer, measured with forward
hooks on one 120×120 image. BatchNorm, activations, pooling and the elementwise products of the
attention gates are not counted (together they add ~6 % for MobileNetV2). Counting them ourselves
keeps the project free of thop/ptflops, whose conventions differ between versions.
"""

from __future__ import annotations

import argparse
import logging
from dataclasses import dataclass

import torch
from torch import nn

from .network import INPUT_SIZE, MobileFRNet, count_parameters, mobilenet_v2_baseline

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Profile:
    """Cost of one network at one input size."""

    name: str
    params_m: float  # millions of trainable parameters
    gmacs: float  # 1e9 multiply-adds for one image
    paper_params_m: float
    paper_gflops: float


# Table 2 of the paper: name → (params in M, GFLOPs).
PAPER_TABLE2 = {
    "MobileNetV2 baseline": (2.38, 0.109),
    "Mobile-FRNet (no attention)": (2.40, 0.110),
    "Mobile-FRNet": (2.60, 0.120),
}


def count_macs(model: nn.Module, input_size: int = INPUT_SIZE) -> int:
    """Multiply-adds of all ``Conv2d`` and ``Linear`` layers for one ``input_size``² RGB image.

    A conv output element costs ``in_channels / groups · kh · kw`` MACs; a module called twice
    (CBAM's shared MLP) is counted twice. Biases are not counted.
    """
    total = 0

    def hook(module: nn.Module, _inputs, output: torch.Tensor) -> None:
        nonlocal total
        per_sample = output.numel() // output.shape[0]
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += per_sample * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += per_sample * module.in_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            model(torch.zeros(1, 3, input_size, input_size))
    finally:
        for handle in handles:
            handle.remove()
        model.train(was_training)
    return total


def table2_networks() -> dict[str, nn.Module]:
    """The three networks of the paper's Table 2 that this project implements."""
    return {
        "MobileNetV2 baseline": mobilenet_v2_baseline(),
        "Mobile-FRNet (no attention)": MobileFRNet(attention=False),
        "Mobile-FRNet": MobileFRNet(attention=True),
    }


def profile_networks(input_size: int = INPUT_SIZE) -> list[Profile]:
    """Measure every Table 2 network next to the paper's numbers."""
    rows = []
    for name, model in table2_networks().items():
        paper_params, paper_gflops = PAPER_TABLE2[name]
        rows.append(Profile(name, count_parameters(model) / 1e6, count_macs(model, input_size) / 1e9,
                            paper_params, paper_gflops))
    return rows


def format_table(rows: list[Profile]) -> str:
    """A plain-text table with the relative differences to the paper."""
    header = f"{'network':<30} {'params(M)':>9} {'paper':>6} {'Δ':>6}   {'GMACs':>7} {'paper':>6} {'Δ':>6}"
    lines = [header, "-" * len(header)]
    for row in rows:
        d_params = 100 * (row.params_m / row.paper_params_m - 1)
        d_flops = 100 * (row.gmacs / row.paper_gflops - 1)
        lines.append(
            f"{row.name:<30} {row.params_m:>9.3f} {row.paper_params_m:>6.2f} {d_params:>+5.1f}%"
            f"   {row.gmacs:>7.4f} {row.paper_gflops:>6.3f} {d_flops:>+5.1f}%"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m frnet.train.complexity", description=__doc__.splitlines()[0])
    parser.add_argument("--input-size", type=int, default=INPUT_SIZE, help="square input side in pixels")
    args = parser.parse_args(argv)
    torch.set_num_threads(1)
    print(f"Table 2 networks at {args.input_size}x{args.input_size} (MACs of conv/linear layers):")
    print(format_table(profile_networks(args.input_size)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
