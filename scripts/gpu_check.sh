#!/usr/bin/env bash
# frnet on a GPU, in one command (docs/performance.md, "GPU"):
#
#   scripts/gpu_check.sh [--dry-run] [--venv DIR] [--python PYTHON] [--wheels DIR] [--clip VIDEO] [--out DIR]
#   scripts/gpu_check.sh --device-machine [--out DIR]   # on a GPU lent by the device tool, after
#                                                       # scripts/device_gpu_prepare.sh (see there)
#
# 1. checks for an NVIDIA driver (nvidia-smi);
# 2. creates a fresh virtual environment (default .venv-gpu) with frnet and onnxruntime-gpu
#    *instead of* onnxruntime (the two must never be installed together), plus the CUDA/cuDNN and
#    TensorRT runtime wheels; --wheels DIR installs from a local wheelhouse (no registry access);
# 3. runs the GPU tests (pytest -m gpu) and the provider tests;
# 4. prints faces/s at batch 1, 8 and 64 on CUDA and TensorRT (fp32 and fp16, engine cache) and
#    whether fp16 holds accuracy (scripts/bench_gpu.py);
# 5. overlays a video with --device cuda and --device tensorrt and prints each run's fps.
#
# Everything goes to --out (default out/gpu_check): gpu_bench.json, the logs, summary.txt.
# --dry-run prints every command without running it (and needs no GPU). Exit status: 0 when every
# step passed, 1 when one failed (the summary says which), 2 for bad usage.
#
# --device-machine: the lent machine has no registry, no face detector, no PyAV and no ../shared,
# so instead of step 2 the onnxruntime-gpu wheel carried in parts (/tmp/frnet-carry, checked
# against .devcarry/carry.sha256) is unpacked into /tmp/frnet-site, which goes first on PYTHONPATH
# beside the machine's own Python (it shadows that Python's CPU onnxruntime; the check fails
# unless the GPU build is the one imported); step 3 runs tests/test_gpu.py alone, step 4 uses the
# carried real crops (.devcarry/crops.npz), and step 5 reads n/a.
set -euo pipefail

usage() { sed -n '2,27p' "$0" | sed 's/^# \{0,1\}//'; }

DRY_RUN=0
DEVICE_MACHINE=0
VENV=.venv-gpu
PYTHON=${PYTHON:-python3}
WHEELS=""
CLIP=""
OUT=out/gpu_check
while [ $# -gt 0 ]; do
    case "$1" in
        --dry-run) DRY_RUN=1 ;;
        --device-machine) DEVICE_MACHINE=1 ;;
        --venv) VENV=${2:?--venv needs a folder}; shift ;;
        --python) PYTHON=${2:?--python needs an interpreter}; shift ;;
        --wheels) WHEELS=${2:?--wheels needs a folder}; shift ;;
        --clip) CLIP=${2:?--clip needs a video}; shift ;;
        --out) OUT=${2:?--out needs a folder}; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
if [ -z "$CLIP" ]; then
    CLIP=../shared/data/videos/WDA_AlexandriaOcasioCortez_000.mp4
    [ -f "$CLIP" ] || CLIP=assets/sample.mp4
fi
if [ ! -f "$CLIP" ]; then
    echo "gpu_check.sh: video $CLIP not found (--clip VIDEO)" >&2
    exit 2
fi
if [ -n "$WHEELS" ] && [ ! -d "$WHEELS" ]; then
    echo "gpu_check.sh: wheelhouse $WHEELS is not a folder" >&2
    exit 2
fi
mkdir -p "$OUT"
SUMMARY="$OUT/summary.txt"
: > "$SUMMARY"
FAILED=0

say() { echo "== $*"; echo "$*" >> "$SUMMARY"; }
run() {  # print a command, run it unless --dry-run
    echo "+ $*"
    if [ "$DRY_RUN" -eq 0 ]; then "$@"; fi
}
step() {  # step NAME COMMAND…: run, log to $OUT/NAME.log, record pass/fail, carry on
    local name=$1; shift
    echo "+ $*"
    if [ "$DRY_RUN" -eq 1 ]; then say "$name: (dry run)"; return 0; fi
    if "$@" 2>&1 | tee "$OUT/$name.log"; then
        say "$name: passed"
    else
        say "$name: FAILED (log: $OUT/$name.log)"
        FAILED=1
    fi
}

wheel_libraries_on_loader_path() {  # PYTHON: the CUDA, cuDNN and TensorRT libraries inside its wheels
    local dirs
    dirs=$("$1" -c '
import pathlib, site
dirs = []
for root in site.getsitepackages():
    base = pathlib.Path(root)
    # nvidia/NAME/lib (CUDA 12 wheels), nvidia/cu13/lib (CUDA 13 wheels), tensorrt_libs (TensorRT).
    dirs += [str(p) for p in sorted(base.glob("nvidia/**/lib")) if p.is_dir()] + [str(p) for p in base.glob("tensorrt_libs")]
print(":".join(dirs))')
    export LD_LIBRARY_PATH="${dirs}${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
}

device_machine_check() {  # steps 2-5 on a machine lent by the device tool (see the top)
    # (The three folders can be moved for tests: FRNET_CARRY_DIR, FRNET_SITE_DIR, FRNET_DEVCARRY.)
    local carry=${FRNET_CARRY_DIR:-/tmp/frnet-carry} site=${FRNET_SITE_DIR:-/tmp/frnet-site}
    local devcarry=${FRNET_DEVCARRY:-$ROOT/.devcarry}
    local manifest=$devcarry/carry.sha256 crops=$devcarry/crops.npz
    if [ ! -f "$manifest" ] || [ ! -f "$crops" ]; then
        echo "gpu_check.sh: $manifest or $crops was not carried (scripts/device_gpu_prepare.sh)" >&2
        exit 2
    fi
    if ! (cd "$carry" && grep -v '^#' "$manifest" | sha256sum -c --quiet); then
        say "device: the carried parts in $carry are missing or damaged (see $manifest)"
        FAILED=1
        return
    fi
    rm -rf "$site" && mkdir -p "$site"
    local parts=()  # the manifest's parts in its order (not whatever else lies in the folder)
    mapfile -t parts < <(grep -v '^#' "$manifest" | awk -v dir="$carry" '{print dir "/" $2}')
    if ! cat "${parts[@]}" | xz -d | tar -C "$site" -xf -; then
        say "device: cannot unpack the carried onnxruntime-gpu"
        FAILED=1
        return
    fi
    export PYTHONPATH="$site:$ROOT/app${PYTHONPATH:+:$PYTHONPATH}"
    wheel_libraries_on_loader_path "$PYTHON"  # the machine's own Python: its PyTorch's CUDA wheels
    if ! "$PYTHON" -c "
import onnxruntime as o
assert o.__file__.startswith('$site'), f'imported {o.__file__}, not the carried GPU build'
print('providers:', o.__version__, o.get_available_providers())" > "$OUT/providers.log" 2>&1; then
        cat "$OUT/providers.log"
        say "device: the carried onnxruntime-gpu does not import (log: $OUT/providers.log)"
        FAILED=1
        return
    fi
    say "$(cat "$OUT/providers.log")"
    step gpu_tests "$PYTHON" -m pytest -q -rs -p no:cacheprovider --noconftest tests/test_gpu.py
    step gpu_bench "$PYTHON" scripts/bench_gpu.py --require-gpu --crops "$crops" \
        --json "$OUT/gpu_bench.json" --engine-cache "$OUT/tensorrt_cache"
    say "video: n/a on the lent machine (no face detector, no PyAV, nothing can be fetched there)"
    echo
    echo "summary ($SUMMARY):"
    cat "$SUMMARY"
}

# 1. the GPU ------------------------------------------------------------------------------------
if [ "$DRY_RUN" -eq 0 ]; then
    if ! command -v nvidia-smi > /dev/null || ! nvidia-smi > /dev/null 2>&1; then
        echo "gpu_check.sh: no NVIDIA GPU or driver here (nvidia-smi missing or failing)" >&2
        exit 1
    fi
    say "gpu: $(nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader | head -n 1)"
else
    say "gpu: (dry run: nvidia-smi not called)"
fi

if [ "$DEVICE_MACHINE" -eq 1 ]; then
    device_machine_check
    exit "$FAILED"
fi

# 2. a fresh environment with onnxruntime-gpu instead of onnxruntime ----------------------------
PIP=("$VENV/bin/python" -m pip --disable-pip-version-check -q)
if [ -n "$WHEELS" ]; then PIP+=(--no-index --find-links "$WHEELS"); fi
run "$PYTHON" -m venv --clear "$VENV"
run "${PIP[@]}" install ".[dev]"
run "${PIP[@]}" uninstall -y onnxruntime
# The [cuda,cudnn] extras bring the CUDA 12 runtime and cuDNN 9 as wheels (no system CUDA needed).
run "${PIP[@]}" install "onnxruntime-gpu[cuda,cudnn]"
# TensorRT's runtime for the TensorRT provider; without it the TensorRT rows read n/a. The wheel
# must be the TensorRT major version this onnxruntime-gpu's provider library links against
# (libnvinfer.so.N; PyPI's newest tensorrt-cu12 may be a later major, which the provider cannot
# load), so N is read from the installed provider library first.
TRT_SPEC=tensorrt-cu12
if [ "$DRY_RUN" -eq 0 ]; then
    TRT_MAJOR=$("$VENV/bin/python" - <<'EOF'
import pathlib, re
import onnxruntime
libs = sorted(pathlib.Path(onnxruntime.__file__).parent.glob("capi/libonnxruntime_providers_tensorrt.so*"))
found = re.search(rb"libnvinfer\.so\.(\d+)", libs[0].read_bytes()) if libs else None
print(found.group(1).decode() if found else "")
EOF
) || TRT_MAJOR=""
    if [ -n "$TRT_MAJOR" ]; then TRT_SPEC="tensorrt-cu12==${TRT_MAJOR}.*"; fi
    say "tensorrt: the provider links libnvinfer.so.${TRT_MAJOR:-?}; installing ${TRT_SPEC}"
fi
if ! run "${PIP[@]}" install "$TRT_SPEC"; then
    say "tensorrt: wheel not installable here; TensorRT rows will read n/a"
fi
if [ "$DRY_RUN" -eq 0 ]; then
    # Exactly one ONNX Runtime distribution, the GPU one.
    "$VENV/bin/python" - <<'EOF'
import importlib.metadata as md
names = {d.metadata["Name"].lower() for d in md.distributions()}
ort = sorted(n for n in names if n.startswith("onnxruntime"))
if ort != ["onnxruntime-gpu"]:
    raise SystemExit(f"expected only onnxruntime-gpu, found {ort}")
EOF
    # The CUDA, cuDNN and TensorRT libraries live inside their wheels: put them on the loader path.
    wheel_libraries_on_loader_path "$VENV/bin/python"
    say "providers: $("$VENV/bin/python" -c 'import onnxruntime as o; print(o.__version__, o.get_available_providers())')"
fi

# 3. tests that need the GPU, and the provider tests --------------------------------------------
export FRNET_SHARED_DIR=${FRNET_SHARED_DIR:-$ROOT/../shared}
step gpu_tests "$VENV/bin/python" -m pytest -q -rs -p no:cacheprovider tests/test_gpu.py tests/test_regressor.py

# 4. faces/s on CUDA and TensorRT ---------------------------------------------------------------
step gpu_bench "$VENV/bin/python" scripts/bench_gpu.py --require-gpu --json "$OUT/gpu_bench.json" \
    --engine-cache "$OUT/tensorrt_cache"

# 5. a --video run per GPU provider (its last line gives frames and fps) -------------------------
for device in cuda tensorrt; do
    step "video_$device" "$VENV/bin/frnet-app" --video "$CLIP" --out "$OUT/video_$device.mp4" --device "$device"
    if [ "$DRY_RUN" -eq 0 ] && [ -f "$OUT/video_$device.log" ]; then
        say "video --device $device: $(grep -o '[0-9]* frames, .* fps' "$OUT/video_$device.log" | tail -n 1)"
    fi
done

echo
echo "summary ($SUMMARY):"
cat "$SUMMARY"
exit "$FAILED"
