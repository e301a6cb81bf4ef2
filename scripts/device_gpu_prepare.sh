#!/usr/bin/env bash
# Prepare scripts/gpu_check.sh for a GPU machine lent through the tool library's device tool
# (docs/performance.md, "GPU on a lent machine"): run here, where the package registry is.
#
#   scripts/device_gpu_prepare.sh [--part-mib N] [--version V]
#
# The lent machine has a GPU, Python 3.12 with CUDA 13's libraries (its PyTorch's), the CPU
# onnxruntime and no package registry; each call to it takes the working tree plus at most 64 MiB
# of carried files in all. onnxruntime-gpu (built for CUDA 13) is a ~250 MB wheel, so its files
# travel as one xz-compressed tar in parts, one per call, each call copying its part to
# /tmp/frnet-carry there:
#
# 1. downloads onnxruntime-gpu V (default 1.31.1) for CPython 3.12 / manylinux x86_64;
# 2. packs its files (tar + xz) and splits that into parts of N MiB (default: what fits beside the working
#    tree and the crops under 64 MiB) in .devcarry/ (git-ignored), with .devcarry/carry.sha256;
# 3. writes 64 real face crops (.devcarry/crops.npz, scripts/bench_gpu.py --save-crops): the lent
#    machine has no face detector and no ../shared;
# 4. prints the device calls to make, in order (the last one runs gpu_check.sh --device-machine).
#
# Exit status: 0 when everything is ready, 1 when a step failed, 2 for bad usage.
set -euo pipefail
cd "$(dirname "$0")/.."

PART_MIB=""
VERSION=1.31.1
while [ $# -gt 0 ]; do
    case "$1" in
        --part-mib) PART_MIB=${2:?--part-mib needs a number}; shift ;;
        --version) VERSION=${2:?--version needs a version}; shift ;;
        -h|--help) sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "device_gpu_prepare.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
PY=${PY:-.venv/bin/python}
CARRY=.devcarry
LIMIT_MIB=64

# What travels with every call: tracked and untracked-not-ignored files.
tree_bytes=$(git ls-files -z --cached --others --exclude-standard | xargs -0 stat -c %s 2>/dev/null | awk '{s += $1} END {print s + 0}')
mkdir -p "$CARRY"
rm -f "$CARRY"/part.* "$CARRY"/carry.sha256

"$PY" scripts/bench_gpu.py --save-crops "$CARRY/crops.npz"
crops_bytes=$(stat -c %s "$CARRY/crops.npz")
room_mib=$(( (LIMIT_MIB * 1048576 - tree_bytes - crops_bytes - 4194304) / 1048576 ))  # 4 MiB to spare
if [ -z "$PART_MIB" ]; then PART_MIB=$room_mib; fi
if [ "$PART_MIB" -lt 4 ] || [ "$PART_MIB" -gt "$room_mib" ]; then
    echo "device_gpu_prepare.sh: the working tree is $((tree_bytes / 1048576)) MiB; parts of ${PART_MIB} MiB do not fit" \
         "(room: ${room_mib} MiB per call)" >&2
    exit 1
fi

python3 -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 -d "$CARRY/wheel" "onnxruntime-gpu==$VERSION"
wheel=$(ls "$CARRY"/wheel/onnxruntime_gpu-"$VERSION"-cp312-*.whl)
# The wheel's files (a wheel is a zip: unpacked, it is what `pip install --target` writes) as one
# xz stream: 20 % smaller than the wheel itself (255 → 204 MB for 1.31.1), two calls fewer.
rm -rf "$CARRY/unpacked" && mkdir -p "$CARRY/unpacked"
python3 -m zipfile -e "$wheel" "$CARRY/unpacked"
tar -C "$CARRY/unpacked" -cf - . | xz -T0 -6 > "$CARRY/site.tar.xz.tmp"
rm -rf "$CARRY/unpacked"
split -b "${PART_MIB}M" -d -a 2 "$CARRY/site.tar.xz.tmp" "$CARRY/part."
rm "$CARRY/site.tar.xz.tmp"
{
    echo "# wheel $(basename "$wheel") $(sha256sum "$wheel" | cut -d' ' -f1)"
    (cd "$CARRY" && sha256sum part.*)
} > "$CARRY/carry.sha256"

mapfile -t parts < <(cd "$CARRY" && ls part.*)
count=${#parts[@]}
echo
echo "ready: $(basename "$wheel") as ${count} parts of ≤ ${PART_MIB} MiB; working tree $((tree_bytes / 1048576)) MiB"
echo "device calls, in order, each within the machine's idle time of the one before:"
for ((i = 0; i < count - 1; i++)); do
    echo "  $((i + 1)). run(carry=[\"$CARRY/${parts[i]}\"], command=\"mkdir -p /tmp/frnet-carry && cp $CARRY/${parts[i]} /tmp/frnet-carry/\")"
done
echo "  ${count}. run(carry=[\"$CARRY/${parts[count - 1]}\", \"$CARRY/crops.npz\", \"$CARRY/carry.sha256\"]," \
     "command=\"mkdir -p /tmp/frnet-carry && cp $CARRY/${parts[count - 1]} /tmp/frnet-carry/ &&" \
     "scripts/gpu_check.sh --device-machine --out \$OUT\", timeout_s=420)"
