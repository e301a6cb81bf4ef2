"""Time ONNX graphs against the shared yardstick, as ``frnet-app bench`` does (docs/performance.md).

::

    python scripts/bench_graphs.py NAME=GRAPH.onnx … [--rounds 5]     # any graphs, e.g. an older export
    python scripts/bench_graphs.py NAME=GRAPH.onnx --rounds 60 --per-round   # ratio vs the host's speed
    python scripts/bench_graphs.py --ablation [--rounds 3]             # what each ingredient of the paper costs
    python scripts/bench_graphs.py --depthwise [--rounds 3]            # int8 3×3 depthwise cost by channel count
    python scripts/bench_graphs.py --splits [--rounds 20]              # other float32/int8 splits of the network

Each graph runs alone (``frnet.bench.yardstick_ratios``: the same float32 batch, 1 thread, batch 1,
the app's session options, alternating blocks); printed: each graph's time relative to the
yardstick's, median and spread over the rounds.

``--ablation`` builds five networks with random weights (BatchNorm statistics from a few random
batches) — plain MobileNetV2, + multi-scale groups, + SE, + attention (= Mobile-FRNet), and
Mobile-FRNet without its multi-scale groups — and
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
    # What a lighter network would cost: everything of the paper's but its multi-scale groups.
    "Mobile-FRNet without multi-scale groups": {"multiscale": False},
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


def _stages(graph, stages: tuple[int, ...], part: str = "") -> list[str]:
    """Names of the nodes of Layer ``i + 1`` for ``i`` in ``stages`` (``part``: only those whose
    name holds it, e.g. the multi-scale filter ``/body/body.1/``)."""
    return [node.name for node in graph.node if node.op_type != "Constant" and part in node.name
            and any(f"/net/stages/stages.{i}/" in node.name for i in stages)]


def split_graphs(folder: Path) -> dict[str, tuple[Path, str]]:
    """The shipped float32 graph quantised with other float/int8 splits than the shipped one
    (:func:`frnet.train.quantize.float_nodes`: stem and Layer1 float); random calibration crops —
    the scales do not change the cost. The shipped int8 graph is timed beside them."""
    from frnet.regressor import INT8_ONNX_FILE, ONNX_FILE
    from frnet.resources import resource_path
    from frnet.train.quantize import float_nodes, quantize

    def layer1_int8(graph):
        return [n for n in float_nodes(graph) if n not in set(_stages(graph, (0,)))]

    def stem_and_layer1_int8(graph):
        return [n for n in layer1_int8(graph) if not n.startswith("/net/stem")]

    def filters_float(graph):
        return float_nodes(graph) + _stages(graph, (1, 2, 3, 4, 5, 6), "/body/body.1/")

    def small_filters_float(graph):
        return float_nodes(graph) + _stages(graph, (3, 4, 5, 6), "/body/body.1/")

    calibration = np.random.default_rng(0).uniform(0, 255, (32, 3, 120, 120)).astype(np.float32)
    graphs = {"shipped split (stem + Layer1 float)": (resource_path("models", INT8_ONNX_FILE), "int8")}
    rules = {"Layer1 int8 too": layer1_int8, "stem and Layer1 int8 too": stem_and_layer1_int8,
             "multi-scale filters float (Layer2-7)": filters_float,
             "multi-scale filters float at 8x8 and 4x4 (Layer4-7)": small_filters_float}
    for index, (name, rule) in enumerate(rules.items()):
        out = folder / f"split{index}.onnx"
        quantize(resource_path("models", ONNX_FILE), out, calibration, method="minmax", keep_float=rule)
        graphs[name] = (out, "int8")
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
    parser.add_argument("--splits", action="store_true",
                        help="the shipped network quantised with other float32/int8 splits, beside the shipped int8 graph")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--per-round", action="store_true",
                        help="print every round (the yardstick's ms and each ratio) and the ratios on the host's "
                             "faster and slower half of the rounds (split at the median yardstick time)")
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
        elif args.splits:
            graphs = split_graphs(Path(tmp))
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
    if args.per_round:
        print_per_round(ratios, reference["rounds_ms"])
    return 0


def print_per_round(ratios: dict[str, dict], rounds_ms: list[float]) -> None:
    """Round by round, then the median ratio on the rounds where the host was faster / slower than
    its median (shared hosts change speed for minutes at a time; the two halves show whether a
    graph's ratio depends on it)."""
    for index, ms in enumerate(rounds_ms):
        cells = "  ".join(f"{name} {ratio['rounds'][index]:.3f}×" for name, ratio in ratios.items())
        print(f"  round {index + 1}: yardstick {ms:.2f} ms  {cells}")
    split = float(np.median(rounds_ms))
    for label, chosen in (("faster", [i for i, ms in enumerate(rounds_ms) if ms <= split]),
                          ("slower", [i for i, ms in enumerate(rounds_ms) if ms > split])):
        if not chosen:
            continue
        yard = float(np.median([rounds_ms[i] for i in chosen]))
        cells = "  ".join(f"{name} {float(np.median([ratio['rounds'][i] for i in chosen])):.3f}×"
                          for name, ratio in ratios.items())
        print(f"  {label} half ({len(chosen)} rounds, yardstick median {yard:.2f} ms): {cells}")


if __name__ == "__main__":
    sys.exit(main())
