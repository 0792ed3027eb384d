#!/usr/bin/env bash
# Packs bench/gpu for the GPU machine, which has no Node.js and no npm registry: .gpu-pack/ (git-ignored)
# holds this machine's node binary, run.ts bundled with esbuild, onnxruntime-node (its native library has
# the WebGPU provider), Dawn for tfjs-webgpu, torch_eager.py and the Vulkan loader packages, mostly
# xz-compressed; device.sh there unpacks and runs all three runtimes. See README.md here.
# usage: bash bench/gpu/pack.sh      (then the device tool with carry [".gpu-pack"], command "bash .gpu-pack/device.sh")
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
P=.gpu-pack
grep -qx '/.gpu-pack/' .gitignore || { echo "bench/gpu/pack.sh: .gitignore must list /.gpu-pack/"; exit 1; }
npm run build >/dev/null
rm -rf "$P/bundle" && mkdir -p "$P/bundle/dist/linux-x64" "$P/debs"
node_modules/.bin/esbuild dist/bench/gpu/run.js dist/bench/gpu/table.js --bundle --platform=node --format=esm --target=node20 --log-level=warning \
  --outdir="$P/bundle" --external:onnxruntime-node --external:@tensorflow/tfjs-node --external:@tensorflow/tfjs-node-gpu \
  --alias:sharp=./bench/gpu/no-sharp.mjs --banner:js="import { createRequire as __cr } from 'module'; const require = __cr(import.meta.url);"
cp node_modules/webgpu/dist/linux-x64/dawn.node "$P/bundle/dist/linux-x64/"
echo '{ "name": "vizoo-gpu-bench", "private": true, "type": "module" }' > "$P/bundle/package.json"
mkdir -p "$P/bundle/dist/vendor" && cp dist/vendor/tfjs-gradients.cjs "$P/bundle/dist/vendor/"
node dist/bench/gpu/run.js --list > "$P/bundle/models.txt"
cp node_modules/@tensorflow/tfjs-backend-wasm/dist/*.wasm "$P/bundle/"
cp bench/gpu/torch_eager.py bench/gpu/device.sh "$P/"
# onnxruntime-node and onnxruntime-common as packages (the binding finds its library beside it).
mkdir -p "$P/bundle/node_modules"
for pkg in onnxruntime-node onnxruntime-common; do
  tar -C node_modules --exclude='*/darwin' --exclude='*/win32' --exclude='*/linux/arm64' -cf - "$pkg" | tar -C "$P/bundle/node_modules" -xf -
done
tar -C "$P" -cf - bundle | xz -T2 -6 > "$P/bundle.tar.xz"
rm -rf "$P/bundle"
[ -f "$P/node.xz" ] || xz -T2 -9 -c "$(command -v node)" > "$P/node.xz"
if ! ls "$P"/debs/libvulkan1_*.deb >/dev/null 2>&1; then
  lists=$(mktemp -d); mkdir -p "$lists/partial"
  o="-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=$lists"
  apt-get $o update >/dev/null 2>&1
  (cd "$P/debs" && apt-get $o download libvulkan1 >/dev/null 2>&1)
fi
du -sh "$P" | awk '{print "pack size: " $1 " (with the checkout: under 64 MiB for the device tool)"}'
