#!/usr/bin/env bash
# Builds the model zoo of issue 4: embeds Fashion-MNIST with the frozen ResNet18 once (cached in
# .data/zoo/cache), trains v1 (classes 0-4, small head), v2-independent, v2-bct and v2-pc, exports each as
# model.onnx + manifest.json + head.bin under .data/zoo/<version>/ and prints their accuracy and mAP table.
# Paths are relative to the current directory; options go to `indexer-zoo train` (try --help).
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

"$root/scripts/setup.sh"
echo "zoo: building and running indexer-zoo"
dotnet run --project "$root/eval/Indexer.Zoo" -c Release -- train "$@"
