"""What this frnet is and how to use it, from the installed package alone.

* :func:`version_text` — ``frnet-app --version``: the package, the network, the face model and the
  detector that ship with it (file names, training epoch, SHA-256 from ``models/SHA256SUMS``).
* :func:`help_main` — ``frnet-app help [TOPIC]``: the documentation installed inside the package
  (``frnet/docs/*.md`` in a wheel, ``docs/`` in a source checkout), so that a ``pip install`` user
  has the same pages as a reader of the repository.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .errors import FrnetError

DETECTOR_FILE = "face_detection_short_range.tflite"


def _short(digest: str | None) -> str:
    return f"sha256 {digest[:12]}…" if digest else "sha256 unknown"


def _network_epoch(path: Path) -> str | None:
    try:
        import onnxruntime as ort

        options = ort.SessionOptions()
        options.log_severity_level = 4
        session = ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
        return session.get_modelmeta().custom_metadata_map.get("frnet_training_epoch")
    except Exception:  # a damaged or missing graph: --version still answers
        return None


def _face_model_name(path: Path) -> str:
    import json

    import numpy as np

    try:
        with np.load(path, allow_pickle=False) as arrays:
            provenance = json.loads(str(arrays["provenance_json"])) if "provenance_json" in arrays.files else {}
            version = int(arrays["format_version"]) if "format_version" in arrays.files else None
    except Exception:  # a damaged file: --version still answers
        return "unreadable"
    name = provenance.get("model", "frnet face model")
    return f"{name}, format {version}" if version is not None else name


def version_text() -> str:
    """Several lines: ``frnet-app X.Y.Z`` and the shipped model files with their versions."""
    import platform

    from . import __version__
    from .facemodel import FACE_MODEL_FILE
    from .regressor import INT8_ONNX_FILE, NETWORK_VERSION, ONNX_FILE
    from .resources import resource_path, shipped_checksums

    try:
        checksums = shipped_checksums()
    except FrnetError:
        checksums = {}

    def located(name: str) -> Path | None:
        try:
            return resource_path("models", name)
        except FrnetError:
            return None

    lines = [f"frnet-app {__version__} (Python {platform.python_version()})"]
    fp32, int8 = located(ONNX_FILE), located(INT8_ONNX_FILE)
    epoch = _network_epoch(fp32) if fp32 else None
    lines.append(f"network: Mobile-FRNet {NETWORK_VERSION}{f' (training epoch {epoch})' if epoch else ''}: "
                 f"{INT8_ONNX_FILE} (CPU, {_short(checksums.get(INT8_ONNX_FILE))}"
                 f"{'' if int8 else ', missing'}), {ONNX_FILE} (GPU, {_short(checksums.get(ONNX_FILE))}"
                 f"{'' if fp32 else ', missing'})")
    face_model = located(FACE_MODEL_FILE)
    lines.append(f"face model: {_face_model_name(face_model) if face_model else 'missing'}: {FACE_MODEL_FILE} "
                 f"({_short(checksums.get(FACE_MODEL_FILE))})")
    lines.append(f"detector: MediaPipe BlazeFace short range: {DETECTOR_FILE} ({_short(checksums.get(DETECTOR_FILE))})")
    return "\n".join(lines)


# -------------------------------------------------------------------------------------------- help


def doc_topics() -> dict[str, Path]:
    """``{topic: file}`` of the installed documentation (``cli`` → ``docs/cli.md``)."""
    from .resources import shipped_dirs

    for folder in shipped_dirs("docs"):
        if folder.is_dir():
            found = {p.stem: p for p in sorted(folder.glob("*.md"))}
            if found:
                return found
    return {}


def help_main(argv: list[str], prog: str = "frnet-app help") -> int:
    """``frnet-app help [TOPIC]``: list the installed documentation, or print one page."""
    topics = doc_topics()
    parser = argparse.ArgumentParser(prog=prog, description="Show the documentation installed with frnet.")
    parser.add_argument("topic", nargs="?", help=f"one of: {', '.join(topics) or 'none installed'}")
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:
        return int(exc.code or 0)
    if args.topic is None:
        print(f"{prog} TOPIC shows one of these pages (Markdown):")
        for topic, path in topics.items():
            title = next((line.lstrip("# ").strip() for line in path.read_text(encoding="utf-8").splitlines()
                          if line.startswith("#")), "")
            print(f"  {topic:<14}{title}")
        print("Also: frnet-app --help, frnet-app SUBCOMMAND --help, python -c 'import frnet; help(frnet)'")
        return 0
    if args.topic not in topics:
        raise FrnetError(f"no documentation topic {args.topic!r}; choose from: {', '.join(topics)}")
    sys.stdout.write(topics[args.topic].read_text(encoding="utf-8"))
    return 0
