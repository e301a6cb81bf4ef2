"""Export a training checkpoint to the ONNX graph the runtime ships (``models/mobilefrnet_v2.onnx``).

The exported graph is self-contained: it takes a batch of 120×120 RGB crops as float32 in 0..255
(NCHW) and returns the 62 *real* parameters, because the input normalisation and the parameter
de-normalisation are baked in. The same constants are also stored as metadata so a user can read
what the graph expects without torch::

    python -m frnet.train.export --checkpoint checkpoints/mobilefrnet_v2_ft/best.pt --out models/mobilefrnet_v2.onnx
"""

from __future__ import annotations

import argparse
import copy
import hashlib
import json
import logging
from pathlib import Path

import numpy as np
import torch
from torch import nn

from ..facemodel import FACE_MODEL_FILE, FACE_MODEL_FORMAT_VERSION
from ..regressor import ONNX_FILE
from ..resources import resource_path
from .network import (FAST_DEPTHWISE_CHANNELS, INPUT_MEAN, INPUT_STD, INPUT_SIZE, MobileFRNet, export_onnx,
                      fuse_for_inference, normalize_input)

log = logging.getLogger(__name__)


class DeployedNetwork(nn.Module):
    """Mobile-FRNet with input normalisation and parameter de-normalisation inside the graph."""

    def __init__(self, net: nn.Module, param_mean: np.ndarray, param_std: np.ndarray) -> None:
        super().__init__()
        self.net = net
        self.register_buffer("param_mean", torch.as_tensor(param_mean, dtype=torch.float32))
        self.register_buffer("param_std", torch.as_tensor(param_std, dtype=torch.float32))

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return self.net(normalize_input(images)) * self.param_std + self.param_mean


def load_checkpoint(path: str | Path) -> tuple[DeployedNetwork, dict]:
    state = torch.load(path, map_location="cpu", weights_only=False)
    net = MobileFRNet(**state["network_config"])
    net.load_state_dict(state["model"])
    mean, std = state["param_stats"]
    deployed = DeployedNetwork(net, mean, std).eval()
    return deployed, state


def file_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def export(checkpoint: Path, out: Path, opset: int = 17) -> dict:
    """Write the ONNX graph with metadata; returns the metadata and the torch/ORT parity."""
    import onnx
    import onnxruntime as ort

    reference, state = load_checkpoint(checkpoint)
    # The graph is exported from an equivalent, faster form (network.fuse_for_inference); the
    # parity check below compares it against the checkpoint as trained.
    deployed = copy.deepcopy(reference)
    rewrites = fuse_for_inference(deployed)
    tmp = out.with_name(out.name + ".tmp.onnx")
    export_onnx(deployed, tmp, opset=opset)
    graph = onnx.load(str(tmp))
    face_model_path = resource_path("models", FACE_MODEL_FILE)
    metadata = {
        "frnet_input": f"float32 NCHW RGB in 0..255, {INPUT_SIZE}x{INPUT_SIZE} crop of a square ROI (frnet.crop)",
        "frnet_input_mean": json.dumps(list(INPUT_MEAN)),
        "frnet_input_std": json.dumps(list(INPUT_STD)),
        "frnet_output": "62 real parameters: 12 pose [s*R|t] row-major (crop space, y up), 40 identity, 10 expression",
        "frnet_param_mean": json.dumps(np.asarray(state["param_stats"][0]).round(6).tolist()),
        "frnet_param_std": json.dumps(np.asarray(state["param_stats"][1]).round(6).tolist()),
        "frnet_face_model": FACE_MODEL_FILE,
        "frnet_face_model_format": str(FACE_MODEL_FORMAT_VERSION),
        "frnet_face_model_sha256": file_sha256(face_model_path),
        "frnet_network_config": json.dumps(state["network_config"]),
        "frnet_training_epoch": str(state.get("epoch", "")),
        "frnet_checkpoint": Path(checkpoint).as_posix(),
        "frnet_inference_rewrites": (f"{rewrites} exact rewrites: stride-2 multi-scale filters fused into one depthwise "
                                     f"conv each, odd-width scale groups padded to {FAST_DEPTHWISE_CHANNELS} channels"),
        "frnet_precision": "fp32",
    }
    for key, value in metadata.items():
        entry = graph.metadata_props.add()
        entry.key, entry.value = key, value
    graph.producer_name = "frnet"
    onnx.save(graph, str(tmp))
    tmp.replace(out)
    # Parity on random crops.
    rng = np.random.default_rng(0)
    images = rng.uniform(0, 255, size=(4, 3, INPUT_SIZE, INPUT_SIZE)).astype(np.float32)
    with torch.no_grad():
        expected = reference(torch.from_numpy(images)).numpy()
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    got = session.run(None, {"input": images})[0]
    parity = float(np.abs(got - expected).max() / (np.abs(expected).max() + 1e-9))
    log.info("exported %s → %s; max relative torch/ORT difference %.2e", checkpoint, out, parity)
    return {"metadata": metadata, "max_relative_difference": parity}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description="Export a checkpoint to the shipped ONNX graph.")
    parser.add_argument("--checkpoint", type=Path, required=True)
    parser.add_argument("--out", type=Path, default=Path("models") / ONNX_FILE)
    parser.add_argument("--opset", type=int, default=17)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    result = export(args.checkpoint, args.out, args.opset)
    print(json.dumps({"out": str(args.out), "max_relative_difference": result["max_relative_difference"]}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
