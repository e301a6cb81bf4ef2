"""Vendor MediaPipe's short-range BlazeFace model into ``models/``.

The runtime's mediapipe (Tasks API) ships no face-detection model, so frnet ships the one found in
the legacy ``mediapipe==0.10.21`` wheel (Apache-2.0), unmodified. This script copies it, writes its
SHA-256 next to it and an Apache-2.0 notice ``models/NOTICE-mediapipe.md``.

Usage (from the repository root, after ``make build-env``)::

    .venv/bin/python scripts/vendor_detector.py                      # looks in .venv-build
    .venv/bin/python scripts/vendor_detector.py --python /other/env/bin/python
    .venv/bin/python scripts/vendor_detector.py --source /path/to/face_detection_short_range.tflite
"""

from __future__ import annotations

import argparse
import hashlib
import json
import logging
import shutil
import subprocess
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
MODEL_NAME = "face_detection_short_range.tflite"
MODEL_IN_WHEEL = f"mediapipe/modules/face_detection/{MODEL_NAME}"
NOTICE_NAME = "NOTICE-mediapipe.md"

logger = logging.getLogger("vendor_detector")

# Run inside the build environment: find the package without importing it (importing mediapipe
# 0.10.21 pulls in its native libraries and dependencies, which we do not need).
_FIND_IN_ENV = """
import importlib.metadata, importlib.util, json
spec = importlib.util.find_spec("mediapipe")
print(json.dumps({"dirs": list(spec.submodule_search_locations or []),
                  "version": importlib.metadata.version("mediapipe")}))
"""


def find_in_env(python: Path) -> tuple[Path, str]:
    """Return ``(model path, mediapipe version)`` for the mediapipe installed in ``python``'s env."""
    if not python.is_file():
        raise SystemExit(f"{python} not found; create it with `make build-env` or pass --python/--source")
    try:
        out = subprocess.run([str(python), "-c", _FIND_IN_ENV], check=True, capture_output=True, text=True)
    except subprocess.CalledProcessError as exc:
        raise SystemExit(f"mediapipe is not importable by {python}: {exc.stderr.strip()}") from exc
    info = json.loads(out.stdout)
    for package_dir in info["dirs"]:
        candidate = Path(package_dir).parent / MODEL_IN_WHEEL
        if candidate.is_file():
            return candidate, info["version"]
    raise SystemExit(
        f"mediapipe {info['version']} in {python} has no {MODEL_IN_WHEEL}; install mediapipe==0.10.21 there"
    )


def version_near(model: Path) -> str:
    """The mediapipe version recorded in the dist-info next to a wheel's model file, if any."""
    site_packages = model.resolve().parents[3]
    for dist_info in sorted(site_packages.glob("mediapipe-*.dist-info")):
        return dist_info.name.removeprefix("mediapipe-").removesuffix(".dist-info")
    return "unknown"


def sha256_of(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def notice_text(version: str, digest: str, size_bytes: int) -> str:
    return f"""# Third-party model: MediaPipe BlazeFace (short range)

`{MODEL_NAME}` in this folder is a copy, **unmodified**, of the file
`{MODEL_IN_WHEEL}` from the PyPI wheel of **mediapipe {version}**
(<https://pypi.org/project/mediapipe/{version}/>, source <https://github.com/google-ai-edge/mediapipe>).

- What it is: the BlazeFace short-range face detector of MediaPipe Face Detection, a TensorFlow Lite
  model (128×128 RGB input) that outputs face boxes and 6 keypoints (eyes, nose tip, mouth centre,
  ear tragions). It is tuned for faces within about 2 m of the camera (selfie / webcam range).
- How frnet uses it: `frnet.detect.MediaPipeFaceDetector` loads it through the MediaPipe Tasks API
  (`mediapipe.tasks.python.vision.FaceDetector`).
- Size: {size_bytes} bytes; SHA-256 `{digest}` (also in `{MODEL_NAME}.sha256`).
- Regenerate: `.venv/bin/python scripts/vendor_detector.py` (after `make build-env`).

## Licence

Copyright The MediaPipe Authors.

Licensed under the Apache License, Version 2.0 (the "License"); you may not use this file except in
compliance with the License. You may obtain a copy of the License at

    http://www.apache.org/licenses/LICENSE-2.0

Unless required by applicable law or agreed to in writing, software distributed under the License is
distributed on an "AS IS" BASIS, WITHOUT WARRANTIES OR CONDITIONS OF ANY KIND, either express or
implied. See the License for the specific language governing permissions and limitations under the
License.
"""


def vendor(model: Path, version: str, out_dir: Path) -> Path:
    """Copy ``model`` into ``out_dir`` with its ``.sha256`` and the notice; return the copy's path."""
    out_dir.mkdir(parents=True, exist_ok=True)
    target = out_dir / MODEL_NAME
    shutil.copyfile(model, target)
    digest = sha256_of(target)
    (out_dir / f"{MODEL_NAME}.sha256").write_text(f"{digest}  {MODEL_NAME}\n")
    (out_dir / NOTICE_NAME).write_text(notice_text(version, digest, target.stat().st_size))
    logger.info("vendored %s (mediapipe %s, sha256 %s) into %s", model, version, digest, out_dir)
    return target


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    group = parser.add_mutually_exclusive_group()
    group.add_argument(
        "--python",
        type=Path,
        default=REPO_ROOT / ".venv-build" / "bin" / "python",
        help="interpreter of the environment holding mediapipe==0.10.21 (default: .venv-build)",
    )
    group.add_argument("--source", type=Path, help=f"path of a {MODEL_NAME} to copy instead")
    parser.add_argument("--version", help="mediapipe version to record (default: detected)")
    parser.add_argument("--out", type=Path, default=REPO_ROOT / "models", help="destination folder")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    if args.source is not None:
        if not args.source.is_file():
            raise SystemExit(f"{args.source} not found")
        model, version = args.source, args.version or version_near(args.source)
    else:
        model, detected = find_in_env(args.python)
        version = args.version or detected
    vendor(model, version, args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
