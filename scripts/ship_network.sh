#!/usr/bin/env bash
# Ship a trained Mobile-FRNet: commit its training state, export the float32 graph, quantise the
# int8 CPU graph and refresh models/SHA256SUMS — the commands that made models/mobilefrnet_v2*.onnx.
#
#   scripts/ship_network.sh runs/mobilefrnet_v2 v2
#   STATE=checkpoints/mobilefrnet_v2_ft scripts/ship_network.sh runs/mobilefrnet_v2_ft v2
#                          # a fine-tune shipped under the same graph names, its state kept apart
#
# Then re-measure what depends on the network (docs/training.md, "Shipping a network"):
#   pytest tests/test_accuracy_golden.py -s                  # new MEASURED values
#   python scripts/accuracy_benchmark.py --reuse 3ddfa_v2 mediapipe dlib   # docs/accuracy.md
#   python scripts/temporal_benchmark.py                     # docs/video.md
set -euo pipefail
cd "$(dirname "$0")/.."
RUN=${1:?usage: scripts/ship_network.sh RUN_DIR VERSION}
VERSION=${2:?usage: scripts/ship_network.sh RUN_DIR VERSION}
PY=${PY:-.venv/bin/python}
NAME=mobilefrnet_${VERSION}
STATE=${STATE:-checkpoints/${NAME}}
export OPENBLAS_NUM_THREADS=1
mkdir -p "$STATE"
for f in best.pt last.pt log.csv loss.png config.json; do
  [ -f "$RUN/$f" ] && cp "$RUN/$f" "$STATE/$f"
done
"$PY" -m frnet.train.export --checkpoint "$STATE/best.pt" --out "models/${NAME}.onnx"
"$PY" -m frnet.train.quantize --model "models/${NAME}.onnx" --out "models/${NAME}_int8.onnx" \
  --report "docs/training/quantize_${VERSION}.json"
"$PY" scripts/model_checksums.py
