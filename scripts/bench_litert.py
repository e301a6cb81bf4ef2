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
3. times, at 1 thread, batch 1, in alternating blocks of 10 calls with the median per round (the
   protocol of ``frnet.bench.yardstick_ratios``): the shared yardstick and the shipped int8 graph in
   ONNX Runtime (the app's session options) and both ``.tflite`` graphs in LiteRT's interpreter
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
import time
import types
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "app"))
CHECKPOINT = REPO / "checkpoints" / "mobilefrnet_v2_ft" / "best.pt"
SHIPPED_INT8 = REPO / "models" / "mobilefrnet_v2_int8.onnx"
BLOCK = 10


def shared_dir() -> Path:
    import os
    return Path(os.environ.get("FRNET_SHARED_DIR", REPO.parent / "shared"))


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
    import onnxruntime as ort

    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    options.add_session_config_entry("session.intra_op.allow_spinning", "0")  # as frnet.regressor
    session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    name = session.get_inputs()[0].name
    batch = np.random.default_rng(0).uniform(0, 255, (1, 3, 120, 120)).astype(np.float32)
    return lambda: session.run(None, {name: batch})[0]


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


def time_ratios(runners: dict, rounds: int, blocks: int = 10) -> tuple[dict, list[float]]:
    for run in runners.values():
        for _ in range(20):
            run()
    per_round = {name: [] for name in runners if name != "yardstick"}
    yardstick_ms = []
    for _ in range(rounds):
        times = {name: [] for name in runners}
        for _ in range(blocks):
            for name, run in runners.items():
                run()  # back in the caches
                for _ in range(BLOCK):
                    start = time.perf_counter()
                    run()
                    times[name].append((time.perf_counter() - start) * 1e3)
        base = float(np.median(times["yardstick"]))
        yardstick_ms.append(base)
        for name in per_round:
            per_round[name].append(float(np.median(times[name])) / base)
    return {name: {"median": float(np.median(r)), "min": float(min(r)), "max": float(max(r))}
            for name, r in per_round.items()}, yardstick_ms


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=REPO / "out" / "bench_litert")
    args = parser.parse_args(argv)
    yardstick = shared_dir() / "ref" / "mobilenetv2_62_120.onnx"
    if not yardstick.is_file():
        print(f"bench_litert: the shared yardstick {yardstick} is missing (FRNET_SHARED_DIR)", file=sys.stderr)
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
    ratios, yardstick_ms = time_ratios(runners, args.rounds)
    import ai_edge_litert
    import onnxruntime
    versions = {"onnxruntime": onnxruntime.__version__,
                "ai_edge_litert": getattr(ai_edge_litert, "__version__", "?"), "python": platform.python_version()}
    print(f"yardstick (ONNX Runtime): {np.median(yardstick_ms):.2f} ms median over {args.rounds} rounds; {versions}")
    for name, r in ratios.items():
        print(f"  {name}: {r['median']:.3f}× the yardstick's time (spread {r['min']:.3f}–{r['max']:.3f})")
    (args.out / "bench_litert.json").write_text(json.dumps(
        {"ratios": ratios, "yardstick_ms": yardstick_ms, "parity": parity, "versions": versions}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
