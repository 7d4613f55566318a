#!/usr/bin/env bash
# The GPU check of issue 6, on a GPU machine with no Node.js, from the bundle scripts/gpu/bundle.sh built into .gpu/.
# Device tool call (from the repository root): command "bash scripts/gpu/check.sh", carry [".gpu"], timeout_s 600.
# Results: $OUT/gpu-check.json (rewritten after each section) and $OUT/check.log. Finishes within ~9.5 minutes.
# Elsewhere (e.g. on a CPU with `. scripts/gpu/lavapipe.sh` sourced first) it uses the Vulkan driver already set up.
set -uo pipefail
out="${OUT:-/tmp/whetstone-gpu-check}"
mkdir -p "$out"
exec > >(tee "$out/check.log") 2>&1
start=$(date +%s)

if [ -z "${VK_DRIVER_FILES:-}" ]; then
  # The GPU machine: the Vulkan loader from the bundle, NVIDIA's driver from the host.
  for f in .gpu/gl/*.deb; do dpkg -x "$f" /; done
  ldconfig
  export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
  export __EGL_VENDOR_LIBRARY_FILENAMES=/usr/local/nvidia/share/glvnd/egl_vendor.d/10_nvidia.json
fi
node=/tmp/whetstone-node
xz -dc .gpu/node.xz > "$node" && chmod +x "$node"
lib=.gpu/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64
[ -f "$lib/libonnxruntime.so.1" ] || xz -dk "$lib/libonnxruntime.so.1.xz"

echo "node $("$node" --version), Vulkan driver $VK_DRIVER_FILES, $(nproc) cores"
command -v nvidia-smi >/dev/null && nvidia-smi -L
echo "setup took $(( $(date +%s) - start ))s"

cd .gpu/app
"$node" dist/bench/gpu-check.js --fixtures shared/fixtures/hf-tiny --peer shared/bench/torch_peer.py \
  --out "$out" --deadline-s $(( 560 - ($(date +%s) - start) )) "$@"
echo "gpu check finished after $(( $(date +%s) - start ))s"
