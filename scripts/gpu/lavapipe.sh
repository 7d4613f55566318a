#!/usr/bin/env bash
# A software WebGPU adapter on the CPU: Mesa's lavapipe Vulkan driver (25.x, from Debian bookworm-backports; the
# 22.x in bookworm lacks features Dawn requires), unpacked into a cache folder without installing anything.
# Source it: `. scripts/gpu/lavapipe.sh` exports VK_DRIVER_FILES and LD_LIBRARY_PATH so onnxruntime-node's WebGPU
# provider finds an adapter; the placement test and scripts/gpu/probe-kernels.ts then run without a GPU.
# Needs apt-get (Debian/Ubuntu amd64) and network access to deb.debian.org the first time.
set -e
dir="${WHETSTONE_LAVAPIPE_DIR:-$HOME/.cache/whetstone-lavapipe}"
lib="$dir/root/usr/lib/x86_64-linux-gnu"
if [ ! -f "$dir/lvp_icd.json" ]; then
  mkdir -p "$dir/lists/partial" "$dir/debs"
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > "$dir/sources.list"
  o=(-oDir::Etc::SourceList="$dir/sources.list" -oDir::Etc::SourceParts=/dev/null -oDir::State::Lists="$dir/lists"
     -oAPT::Architecture=amd64 -oDebug::NoLocking=1)
  apt-get "${o[@]}" update >/dev/null
  (cd "$dir/debs" && apt-get "${o[@]}" download mesa-vulkan-drivers libdrm2 libdrm-amdgpu1 >/dev/null 2>&1)
  # The Vulkan loader comes from the distribution's own suite.
  (cd "$dir/debs" && apt-get download libvulkan1 >/dev/null 2>&1)
  for f in "$dir"/debs/*.deb; do dpkg -x "$f" "$dir/root"; done
  sed "s#\"library_path\": \".*\"#\"library_path\": \"$lib/libvulkan_lvp.so\"#" \
    "$dir/root/usr/share/vulkan/icd.d/lvp_icd.json" > "$dir/lvp_icd.json"
fi
set +e
export VK_DRIVER_FILES="$dir/lvp_icd.json"
export LD_LIBRARY_PATH="$lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"
