#!/usr/bin/env bash
# Installs everything Indexer needs on a fresh Debian machine with the .NET SDK, node and npm:
# the Fashion-MNIST dataset (Debian package), Azurite (npm) and the NuGet packages.
# Safe to run again: each step is skipped when its result is already there.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

dataset_dir=/usr/share/datasets/fashion-mnist
if [ ! -f "$dataset_dir/t10k-images-idx3-ubyte.gz" ]; then
  echo "setup: installing Debian package dataset-fashion-mnist"
  if [ "$(id -u)" -ne 0 ]; then sudo=sudo; else sudo=; fi
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq dataset-fashion-mnist >/dev/null
fi

if [ ! -x "$root/tools/azurite/node_modules/.bin/azurite" ]; then
  echo "setup: installing Azurite (npm)"
  npm install --prefix "$root/tools/azurite" --no-audit --no-fund --loglevel=error >/dev/null
fi

echo "setup: restoring NuGet packages"
dotnet restore "$root/Indexer.sln" --verbosity quiet
