#!/usr/bin/env bash
# Build what the GPU check needs into .gpu/ (ignored by git; name it in the device tool's `carry`), following
# /work/shared/docs/gpu.md: a compressed Node.js binary, the Vulkan loader .deb, and .gpu/app/ holding the compiled
# JavaScript, only the node_modules packages bench/gpu-check.js loads (onnxruntime-node pruned to linux/x64 with
# libonnxruntime.so.1 xz-compressed), the hf-tiny fixture files and torch_peer.py. Checks the upload stays under
# the 64 MiB the device tool carries (working tree included). Run from the repository root: bash scripts/gpu/bundle.sh
set -euo pipefail
root="$(pwd)"
gpu="$root/.gpu"
app="$gpu/app"
shared="${WHETSTONE_SHARED:-$root/../shared}"
grep -qx '/.gpu/' .git/info/exclude 2>/dev/null || echo /.gpu/ >> .git/info/exclude

mkdir -p "$gpu/gl"
if [ ! -f "$gpu/node.xz" ]; then
  xz -T2 -c "$(readlink -f "$(command -v node)")" > "$gpu/node.xz"
fi
# NVIDIA's Vulkan ICD (libGLX_nvidia.so.0) needs the GL vendor-neutral dispatch libraries as well as the loader;
# with the loader alone vkCreateInstance finds no driver (seen on the H100 machine).
gl_packages=(libvulkan1 libglvnd0 libglx0 libgl1 libegl1 libopengl0 libgles2)
if ! ls "$gpu"/gl/libglvnd0_*.deb >/dev/null 2>&1; then
  mkdir -p /tmp/amd64/partial
  o=(-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64)
  apt-get "${o[@]}" update >/dev/null && (cd "$gpu/gl" && apt-get "${o[@]}" download "${gl_packages[@]}" >/dev/null)
fi

rm -rf "$app"
mkdir -p "$app"
# Others' unfinished modules may not type-check; the emitted JavaScript of what the check loads is what counts.
npx tsc -p tsconfig.build.json --outDir "$app/dist" >"$app/tsc.log" 2>&1 || true
test -f "$app/dist/bench/gpu-check.js" || { cat "$app/tsc.log"; echo "bundle: gpu-check.js was not built"; exit 1; }
rm -f "$app/tsc.log"
find "$app/dist" -name '*.map' -delete

# Package folders the check loads: every file required while its modules load, mapped to its package root.
packages=$(node -e '
  const Module = require("module"); const path = require("path"); const seen = new Set();
  const load = Module._load;
  Module._load = function (request, parent, isMain) {
    const file = Module._resolveFilename(request, parent, isMain);
    const m = /^(.*\/node_modules\/(?:@[^/]+\/)?[^/]+)\//.exec(file);
    if (m) seen.add(path.relative(process.cwd(), m[1]));
    return load.apply(this, arguments);
  };
  require(path.resolve(process.argv[1]));
  console.log([...seen].sort().join("\n"));
' "$app/dist/bench/gpu-check.js")
for p in $packages; do
  mkdir -p "$app/$(dirname "$p")"
  cp -r "$p" "$app/$p"
done

# What only developers need: protobufjs's command line (20 MB of its own packages), typings, maps, docs.
rm -rf "$app/node_modules/protobufjs/cli"
find "$app/node_modules" \( -name '*.d.ts' -o -name '*.map' -o -name '*.md' \) -type f -delete

ort="$app/node_modules/onnxruntime-node/bin/napi-v6"
find "$ort" -mindepth 1 -maxdepth 1 ! -name linux -exec rm -rf {} +
find "$ort/linux" -mindepth 1 -maxdepth 1 ! -name x64 -exec rm -rf {} +
xz -T2 -f "$ort/linux/x64/libonnxruntime.so.1"

mkdir -p "$app/shared/fixtures/hf-tiny" "$app/shared/bench"
for f in llama-tiny lora_init sft_batch.safetensors reference.json; do
  cp -r "$shared/fixtures/hf-tiny/$f" "$app/shared/fixtures/hf-tiny/"
done
cp "$shared/bench/torch_peer.py" "$app/shared/bench/"

tree_bytes=$( (git ls-files; git ls-files --others --exclude-standard) | xargs -d '\n' du -cb 2>/dev/null | tail -1 | cut -f1)
gpu_bytes=$(du -sb "$gpu" | cut -f1)
total=$(( (tree_bytes + gpu_bytes) / 1048576 ))
echo "bundle: packages: $(echo $packages | tr '\n' ' ')"
echo "bundle: .gpu $(( gpu_bytes / 1048576 )) MiB + working tree $(( tree_bytes / 1048576 )) MiB = $total MiB (limit 64)"
[ "$total" -lt 63 ] || { echo "bundle: too large for the device tool"; exit 1; }
