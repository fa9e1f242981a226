#!/usr/bin/env bash
# Installs everything Indexer needs on a fresh Debian machine with the .NET SDK, node and npm:
# the Fashion-MNIST dataset and scikit-learn (Debian packages; scikit-learn is the independent
# reference the metric tests check against), fontconfig and a font for the report's plots,
# Azurite (npm) and the NuGet packages.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

missing=()
[ -f /usr/share/datasets/fashion-mnist/t10k-images-idx3-ubyte.gz ] || missing+=(dataset-fashion-mnist)
/usr/bin/python3 -c "import sklearn" 2>/dev/null || missing+=(python3-sklearn)
# The evaluation report's plots draw their text with a system font found through fontconfig.
command -v fc-match >/dev/null 2>&1 || missing+=(fontconfig)
[ -d /usr/share/fonts/truetype/dejavu ] || missing+=(fonts-dejavu-core)
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing Debian packages ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
fi

if [ ! -x "$root/tools/azurite/node_modules/.bin/azurite" ]; then
  echo "setup: installing Azurite (npm)"
  npm install --prefix "$root/tools/azurite" --no-audit --no-fund --loglevel=error >/dev/null
fi

echo "setup: restoring NuGet packages"
dotnet restore "$root/Indexer.sln" --verbosity quiet
