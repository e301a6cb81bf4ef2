"""Would another CPU runtime run Mobile-FRNet faster? The shipped network through LiteRT (XNNPACK)
beside ONNX Runtime, both against the shared yardstick (docs/performance.md, issue 15).

Runs in its own throwaway environment (``make litert-env``: torch, litert-torch — which brings
ai-edge-litert and ai-edge-quantizer — and ONNX Runtime; nothing of it is in frnet's runtime)::

    .venv-litert/bin/python scripts/bench_litert.py [--rounds 20] [--out DIR]

1. converts ``checkpoints/mobilefrnet_v2_ft/best.pt`` (the shipped network's checkpoint), in its
   exported form (``frnet.train.network.fuse_for_inference``, input normalisation and parameter
   de-normalisation inside), to a float32 ``.tflite`` with NHWC input (``litert_torch``), and checks
   it against torch on random crops (max |difference| relative to the output range ≤ 1e-5);
2. quantises that graph to int8 weights and activations (ai-edge-quantizer ``static_wi8_ai8``,
   8 random calibration crops: the scales do not change the cost);
3. times, at 1 thread, batch 1, in alternating blocks of 10 calls with the median per round
   (``frnet.bench.alternating_ratios``, the protocol of ``frnet-app bench``): the shared yardstick
   and the shipped int8 graph in ONNX Runtime (``frnet.regressor.Regressor``, the app's session
   options) and both ``.tflite`` graphs in LiteRT's interpreter
   (XNNPACK delegate, ``num_threads=1``). Prints each graph's time relative to the yardstick's,
   median and spread over the rounds, and writes ``bench_litert.json`` to ``--out``.

LiteRT has no lowering for ``adaptive_max_pool2d``; the conversion swaps the two global poolings of
the attention blocks for the equal ``amax``/``mean`` over H and W (checked by step 1).
"""

from __future__ import annotations

import argparse
import copy
import json
import platform
import sys
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))
CHECKPOINT = REPO / "checkpoints" / "mobilefrnet_v2_ft" / "best.pt"
SHIPPED_INT8 = REPO / "models" / "mobilefrnet_v2_int8.onnx"


def convert(out: Path) -> tuple[Path, Path, float]:
    """Float32 and int8 ``.tflite`` graphs of the shipped checkpoint, and the float graph's parity."""
    import litert_torch
    import torch
    from ai_edge_litert.interpreter import Interpreter
    from ai_edge_quantizer import quantizer, recipe

    import frnet.train.network as network
    from frnet.train.export import load_checkpoint

    # The two global poolings as reductions LiteRT can lower (the same numbers).
    functional = types.SimpleNamespace(**{k: getattr(network.F, k) for k in dir(network.F) if not k.startswith("__")})
    functional.adaptive_max_pool2d = lambda x, size: x.amax((2, 3), keepdim=True)
    functional.adaptive_avg_pool2d = lambda x, size: x.mean((2, 3), keepdim=True)
    network.F = functional

    torch.set_num_threads(1)
    reference, _ = load_checkpoint(CHECKPOINT)
    deployed = copy.deepcopy(reference)
    network.fuse_for_inference(deployed)
    deployed.eval()
    rng = np.random.default_rng(0)
    crops = torch.from_numpy(rng.uniform(0, 255, (4, 1, 3, 120, 120)).astype(np.float32))
    nhwc = litert_torch.to_channel_last_io(deployed, args=[0])
    edge = litert_torch.convert(nhwc, (crops[0].permute(0, 2, 3, 1).contiguous(),))
    fp32_path = out / "mobilefrnet_v2_fp32.tflite"
    edge.export(str(fp32_path))
    worst = 0.0
    for crop in crops:
        with torch.no_grad():
            want = reference(crop).numpy()
        got = np.asarray(edge(crop.permute(0, 2, 3, 1).contiguous()))
        worst = max(worst, float(np.abs(got - want).max() / np.abs(want).max()))

    signatures = Interpreter(model_path=str(fp32_path)).get_signature_list()
    key = next(iter(signatures))
    name = signatures[key]["inputs"][0]
    calibration = [{name: rng.uniform(0, 255, (1, 120, 120, 3)).astype(np.float32)} for _ in range(8)]
    q = quantizer.Quantizer(str(fp32_path))
    q.load_quantization_recipe(recipe.static_wi8_ai8())
    int8_path = out / "mobilefrnet_v2_int8.tflite"
    q.quantize(q.calibrate({key: calibration}, num_threads=1)).export_model(str(int8_path), overwrite=True)
    return fp32_path, int8_path, worst


def onnx_runner(path: Path):
    """An ONNX graph as the app runs it (``Regressor.run_nchw``, 1 thread, the app's session options)."""
    from frnet.regressor import Regressor

    regressor = Regressor(path, device="cpu", threads=1)
    batch = np.random.default_rng(0).uniform(0, 255, (1, 3, 120, 120)).astype(np.float32)
    return lambda: regressor.run_nchw(batch)


def litert_runner(path: Path):
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path), num_threads=1)
    interpreter.allocate_tensors()
    source = interpreter.get_input_details()[0]
    target = interpreter.get_output_details()[0]
    batch = np.random.default_rng(0).uniform(0, 255, tuple(source["shape"])).astype(np.float32)
    if source["dtype"] != np.float32:  # a fully int8 graph takes quantised input
        scale, zero = source["quantization"]
        info = np.iinfo(source["dtype"])
        batch = np.clip(np.round(batch / scale + zero), info.min, info.max).astype(source["dtype"])

    def run():
        interpreter.set_tensor(source["index"], batch)
        interpreter.invoke()
        return interpreter.get_tensor(target["index"])
    return run


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_litert")
    args = parser.parse_args(argv)
    from frnet.bench import alternating_ratios, yardstick_path

    yardstick, why_not = yardstick_path()
    if yardstick is None:
        print(f"bench_litert: {why_not}", file=sys.stderr)
        return 2
    args.out.mkdir(parents=True, exist_ok=True)
    fp32_path, int8_path, parity = convert(args.out)
    print(f"float32 .tflite vs torch: max |difference| {parity:.2e} of the output range")
    if parity > 1e-5:
        print("bench_litert: the converted graph does not match the checkpoint", file=sys.stderr)
        return 1
    runners = {"yardstick": onnx_runner(yardstick),
               "ONNX Runtime int8 (shipped)": onnx_runner(SHIPPED_INT8),
               "LiteRT float32": litert_runner(fp32_path),
               "LiteRT int8": litert_runner(int8_path)}
    ratios, reference = alternating_ratios(runners, args.rounds)
    import ai_edge_litert
    import onnxruntime
    versions = {"onnxruntime": onnxruntime.__version__,
                "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"), "python": platform.python_version()}
    print(f"yardstick (ONNX Runtime): {reference['batch1']:.2f} ms median over {args.rounds} rounds; {versions}")
    for name, r in ratios.items():
        print(f"  {name}: {r['median']:.3f}× the yardstick's time (spread {r['min']:.3f}–{r['max']:.3f})")
    (args.out / "bench_litert.json").write_text(json.dumps(
        {"ratios": ratios, "yardstick": reference, "parity": parity, "versions": versions}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
