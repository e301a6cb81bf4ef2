"""Time ONNX graphs against the shared yardstick, as ``frnet-app bench`` does (docs/performance.md).

::

    python scripts/bench_graphs.py NAME=GRAPH.onnx … [--rounds 5]     # any graphs, e.g. an older export
    python scripts/bench_graphs.py --ablation [--rounds 3]             # what each ingredient of the paper costs

Each graph runs alone (``frnet.bench.yardstick_ratios``: the same float32 batch, 1 thread, batch 1,
the app's session options, alternating blocks); printed: each graph's time relative to the
yardstick's, median and spread over the rounds.

``--ablation`` builds four networks with random weights (BatchNorm statistics from a few random
batches) — plain MobileNetV2, + multi-scale groups, + SE, + attention (= Mobile-FRNet) — and
exports and quantises each exactly as the shipped graph is (``fuse_for_inference``, the int8 recipe
of :mod:`frnet.train.quantize` on random calibration crops: weights do not change the cost). It
needs the ``train`` extra (torch).

Older shipped graphs for a side-by-side run: ``git show COMMIT:models/mobilefrnet_v1_int8.onnx > old.onnx``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

ABLATION = {
    "MobileNetV2 int8": {"attention": False, "multiscale": False, "se": False},
    "+ multi-scale groups": {"attention": False, "multiscale": True, "se": False},
    "+ SE": {"attention": False, "multiscale": True, "se": True},
    "+ attention (Mobile-FRNet)": {},
}


def ablation_graphs(folder: Path) -> dict[str, tuple[Path, str]]:
    import torch

    from frnet.train.export import DeployedNetwork
    from frnet.train.network import MobileFRNet, export_onnx, fuse_for_inference
    from frnet.train.quantize import quantize

    torch.manual_seed(0)
    calibration = np.random.default_rng(0).uniform(0, 255, (32, 3, 120, 120)).astype(np.float32)
    graphs = {}
    for index, (name, config) in enumerate(ABLATION.items()):
        net = MobileFRNet(**config)
        for module in net.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                module.momentum = None
        net.train()
        with torch.no_grad():
            net(torch.randn(8, 3, 120, 120))
        deployed = DeployedNetwork(net.eval(), np.zeros(62), np.ones(62)).eval()
        fuse_for_inference(deployed)
        fp32, int8 = folder / f"v{index}.onnx", folder / f"v{index}_int8.onnx"
        export_onnx(deployed, fp32)
        quantize(fp32, int8, calibration, method="minmax")
        graphs[name] = (int8, "int8")
    return graphs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="*", metavar="NAME=GRAPH", help="graphs to time")
    parser.add_argument("--ablation", action="store_true", help="time the four ablation networks instead")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    from frnet.bench import yardstick_path, yardstick_ratios

    yardstick, note = yardstick_path()
    if yardstick is None:
        print(note, file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory(prefix="frnet-graphs-") as tmp:
        if args.ablation:
            graphs = ablation_graphs(Path(tmp))
        else:
            graphs = {}
            for item in args.graphs:
                name, _, path = item.partition("=")
                if not path or not Path(path).is_file():
                    parser.error(f"{item!r}: expected NAME=GRAPH.onnx with an existing file")
                graphs[name] = (Path(path), "fp32")
            if not graphs:
                parser.error("name graphs to time, or --ablation")
        ratios, reference = yardstick_ratios(graphs, yardstick, rounds=args.rounds)
    print(f"yardstick {yardstick.name}: {reference['batch1']:.2f} ms median on this host")
    for name, ratio in ratios.items():
        print(f"  {name}: {ratio['median']:.3f}× the yardstick's time (spread {ratio['min']:.3f}–{ratio['max']:.3f}, "
              f"{len(ratio['rounds'])} rounds)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
