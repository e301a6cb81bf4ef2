#!/usr/bin/env bash
# Mobile-FRNet v2: rebuild every label cache (skipping the ones present) and train / resume.
#
#   scripts/train_v2.sh                 # CPU, resumes runs/mobilefrnet_v2 if it exists
#   DEVICE=cuda scripts/train_v2.sh     # the same command on a GPU (a CUDA build of torch)
#   MINUTES=100 scripts/train_v2.sh     # stop at the first epoch boundary after 100 minutes
#   RUN=runs/ft INIT=checkpoints/mobilefrnet_v2/best.pt LR=2.5e-4 scripts/train_v2.sh --loss-weight landmark_wing=0.1
#                                       # a fresh schedule from a checkpoint's weights; later arguments go to
#                                       # frnet.train.train (pass the same ones again when resuming)
#
# Data (research use; see models/README.md): ytf68 / UTKFace / shared clips fitted to MediaPipe Face
# Mesh (.cache/teacher, build env), AFLW (MERL-RAV labels) and 300-W AFW/HELEN fitted to their
# human 68 points (frnet.train.real_labels), and yaw + pitch profiled views of both
# (frnet.train.profiling --max-pitch 45). The schedule is EPOCHS × SAMPLES one-cycle; a resumed run
# continues it, and a resume with another EPOCHS re-lays the anneal over the new total from the step
# reached (30 since 2026-12-02: 7 epochs were run under 120). The first run starts from the v1 state.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
BUILD_PY=${BUILD_PY:-.venv-build/bin/python}
DATA=${DATA:-.cache/dataset}
RUN=${RUN:-runs/mobilefrnet_v2}
DEVICE=${DEVICE:-cpu}
EPOCHS=${EPOCHS:-30}
SAMPLES=${SAMPLES:-10000}
THREADS=${THREADS:-2}
LR=${LR:-6e-4}
INIT=${INIT:-}
export OMP_WAIT_POLICY=PASSIVE
[ -f .cache/teacher/ytf68.npz ] && [ -f .cache/teacher/utkface.npz ] && [ -f .cache/teacher/videos.npz ] \
  || "$BUILD_PY" -m frnet.build.teacher
[ -f "$DATA/labels.npz" ] || "$PY" -m frnet.train.labels --out "$DATA"
[ -f "$DATA/real2d_labels.npz" ] || "$PY" -m frnet.train.real_labels --out "$DATA"
[ -f "$DATA/v2_profiled_labels.npz" ] || "$PY" -m frnet.train.profiling --dataset "$DATA" --views-per-face 1 --limit 6000 \
  --max-pitch 45 --out-prefix v2_ --seed 2
[ -f "$DATA/real2d_profiled_labels.npz" ] || "$PY" -m frnet.train.profiling --dataset "$DATA" --prefix real2d_ \
  --views-per-face 1 --max-pitch 45 --seed 3 --limit 4000
args=(--run "$RUN" --data "$DATA" --recipe v2 --epochs "$EPOCHS" --samples-per-epoch "$SAMPLES" --lr "$LR"
      --threads "$THREADS" --device "$DEVICE")
[ -n "${MINUTES:-}" ] && args+=(--max-minutes "$MINUTES")
if [ -f "$RUN/last.pt" ]; then
  args+=(--resume)
elif [ -n "$INIT" ]; then
  [ -f "$INIT" ] || scripts/restore_state.sh "$INIT"   # an archived state (checkpoints/ARCHIVED.sha256)
  args+=(--init-from "$INIT")
elif scripts/restore_state.sh checkpoints/mobilefrnet_v2/last.pt checkpoints/mobilefrnet_v2/best.pt; then
  # A later session: continue the committed state (archived in git history, checkpoints/ARCHIVED.sha256).
  mkdir -p "$RUN" && cp checkpoints/mobilefrnet_v2/last.pt checkpoints/mobilefrnet_v2/log.csv "$RUN"/ && args+=(--resume)
  cp checkpoints/mobilefrnet_v2/best.pt "$RUN"/
else
  scripts/restore_state.sh checkpoints/mobilefrnet_v1/best.pt
  args+=(--init-from checkpoints/mobilefrnet_v1/best.pt)
fi
exec "$PY" -m frnet.train.train "${args[@]}" "$@"
