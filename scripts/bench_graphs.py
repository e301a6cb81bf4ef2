"""Time ONNX graphs against the shared yardstick, as ``frnet-app bench`` does (docs/performance.md).

::

    python scripts/bench_graphs.py NAME=GRAPH.onnx … [--rounds 5]     # any graphs, e.g. an older export
    python scripts/bench_graphs.py --ablation [--rounds 3]             # what each ingredient of the paper costs
    python scripts/bench_graphs.py --depthwise [--rounds 3]            # int8 3×3 depthwise cost by channel count

Each graph runs alone (``frnet.bench.yardstick_ratios``: the same float32 batch, 1 thread, batch 1,
the app's session options, alternating blocks); printed: each graph's time relative to the
yardstick's, median and spread over the rounds.

``--ablation`` builds four networks with random weights (BatchNorm statistics from a few random
batches) — plain MobileNetV2, + multi-scale groups, + SE, + attention (= Mobile-FRNet) — and
exports and quantises each exactly as the shipped graph is (``fuse_for_inference``, the int8 recipe
of :mod:`frnet.train.quantize` on random calibration crops: weights do not change the cost). It
needs the ``train`` extra (torch).

``--depthwise`` times small int8 graphs (1×1 conv → ReLU6 → [3×3 depthwise → ReLU6] → 1×1 conv at
30×30, the shape of Layer2's scale groups) with and without the depthwise convolution, for 32, 36,
40 and 48 channels: the difference is the depthwise convolution's cost, the reason for
``frnet.train.network.pad_scale_groups`` (needs torch).

Older shipped graphs for a side-by-side run: ``git show COMMIT:models/mobilefrnet_v2_int8.onnx > old.onnx``.
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


DEPTHWISE_CHANNELS = (32, 36, 40, 48)


def depthwise_graphs(folder: Path, size: int = 30) -> dict[str, tuple[Path, str]]:
    import torch


    class Chain(torch.nn.Module):
        def __init__(self, channels: int, depthwise: bool):
            super().__init__()
            self.a = torch.nn.Conv2d(channels, channels, 1)
            self.b = torch.nn.Conv2d(channels, channels, 3, 1, 1, groups=channels) if depthwise else torch.nn.Identity()
            self.c = torch.nn.Conv2d(channels, channels, 1)

        def forward(self, x):
            return self.c(torch.clamp(self.b(torch.clamp(self.a(x), 0, 6)), 0, 6))

    import warnings

    graphs = {}
    for channels in DEPTHWISE_CHANNELS:
        calibration = np.random.default_rng(0).uniform(0, 1, (4, channels, size, size)).astype(np.float32)
        for depthwise in (False, True):
            fp32, int8 = folder / f"c{channels}_{depthwise}.onnx", folder / f"c{channels}_{depthwise}_int8.onnx"
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(Chain(channels, depthwise).eval(), torch.zeros(1, channels, size, size), str(fp32),
                                  opset_version=17, dynamo=False, input_names=["input"])
            quantize_chain(fp32, int8, calibration)
            graphs[f"{channels} ch {'with' if depthwise else 'without'} depthwise"] = int8
    return graphs


def quantize_chain(fp32: Path, int8: Path, calibration: np.ndarray) -> None:
    from onnxruntime.quantization import CalibrationDataReader, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self):
            self._items = iter([{"input": calibration[i:i + 1]} for i in range(len(calibration))])

        def get_next(self):
            return next(self._items, None)

    quantize_static(str(fp32), str(int8), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
                    activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8)


def time_depthwise(graphs: dict[str, Path], rounds: int) -> dict[str, float]:
    """Median µs of each small graph, alternating blocks; returns the depthwise cost per width."""
    import time

    import onnxruntime as ort

    sessions = {}
    for name, path in graphs.items():
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1
        options.log_severity_level = 3
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        shape = [1, *session.get_inputs()[0].shape[1:]]
        sessions[name] = (session, np.random.default_rng(1).uniform(0, 1, shape).astype(np.float32))
    times: dict[str, list[float]] = {name: [] for name in graphs}
    for _ in range(rounds * 10):
        for name, (session, x) in sessions.items():
            session.run(None, {"input": x})
            for _ in range(10):
                start = time.perf_counter()
                session.run(None, {"input": x})
                times[name].append(time.perf_counter() - start)
    return {f"{c} channels": 1e6 * (float(np.median(times[f"{c} ch with depthwise"]))
                                    - float(np.median(times[f"{c} ch without depthwise"])))
            for c in DEPTHWISE_CHANNELS}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("graphs", nargs="*", metavar="NAME=GRAPH", help="graphs to time")
    parser.add_argument("--ablation", action="store_true", help="time the four ablation networks instead")
    parser.add_argument("--depthwise", action="store_true", help="int8 3×3 depthwise cost at 30×30 by channel count")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args(argv)
    if args.depthwise:
        with tempfile.TemporaryDirectory(prefix="frnet-dw-") as tmp:
            costs = time_depthwise(depthwise_graphs(Path(tmp)), args.rounds)
        for name, microseconds in costs.items():
            print(f"  int8 3×3 depthwise at 30×30, {name}: {microseconds:.1f} µs")
        return 0
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
