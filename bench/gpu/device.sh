#!/usr/bin/env bash
# On the GPU machine (from the repository root, with .gpu-pack carried): unpacks node and the bundle, runs
# onnxruntime-WebGPU (dumping the graphs), PyTorch CUDA eager on those graphs, then tfjs-webgpu, and
# writes the results and the joined table to $OUT.
# Arguments go to run.ts (e.g. --models van_b0 --batches 1,32).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${OUT:-/tmp/gpu-results}; mkdir -p "$out"
for f in "$here"/debs/*.deb; do dpkg -x "$f" /; done; ldconfig
[ -x /tmp/node ] || { xz -dc "$here/node.xz" > /tmp/node && chmod +x /tmp/node; }
B=/tmp/gpu-bundle; rm -rf "$B"; mkdir -p "$B"; xz -dc "$here/bundle.tar.xz" | tar -C "$B" -xf -
export XDG_RUNTIME_DIR=/tmp
if [ ! -f /usr/share/vulkan/icd.d/nvidia_icd.json ] && [ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ]; then
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
fi
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader > "$out/gpu.txt" 2>&1
cd "$B/bundle"
case " $* " in *" --models "*) ;; *) set -- --models "$(cat models.txt)" "$@" ;; esac
/tmp/node run.js --runtime ort --dump /tmp/gpu-graphs --out "$out/results_ort.json" "$@" 2>&1 | tee "$out/ort.log"
python3 "$here/torch_eager.py" /tmp/gpu-graphs --device cuda --out "$out/results_torch.json" 2>&1 | tee "$out/torch.log"
/tmp/node run.js --runtime tfjs --out "$out/results_tfjs.json" "$@" 2>&1 | tee "$out/tfjs.log"
/tmp/node table.js "$out"/results_ort.json "$out"/results_tfjs.json "$out"/results_torch.json | tee "$out/table.md"
