#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ (git-ignored) for every target; run from the repository root
# after `cargo build --release -p archc-cli`.
#   check:      every .arch file in models/, tests/ and docs/
#   ir:         the IR of every model (and of its smoke scale), and the IR UI fixtures
#   data:       fuzz/seeds/data (good and bad shards, bin and text files; first byte picks)
#   checkpoint: fuzz/seeds/checkpoint (a 2-step run of a 4-wide model, split as the target
#               reads it; first byte holds the flags)
set -euo pipefail
archc=${ARCHC:-target/release/archc}
mkdir -p fuzz/corpus/{check,ir,data,checkpoint}
find models tests docs -name '*.arch' | while read -r f; do
  cp "$f" "fuzz/corpus/check/$(echo "$f" | tr / _)"
done
tmp=$(mktemp -d)
for f in models/*.arch; do
  n=$(basename "$f" .arch)
  "$archc" build --no-svg "$f" -o "$tmp/$n" > /dev/null && cp "$tmp/$n/ir.yaml" "fuzz/corpus/ir/$n.yaml"
  "$archc" build --no-svg --smoke "$f" -o "$tmp/$n-smoke" > /dev/null 2>&1 &&
    cp "$tmp/$n-smoke/ir.yaml" "fuzz/corpus/ir/$n-smoke.yaml" || true
done
find tests/ui/ir -name '*.yaml' -exec cp {} fuzz/corpus/ir/ \;
rm -rf "$tmp"
cp fuzz/seeds/data/* fuzz/corpus/data/
cp fuzz/seeds/checkpoint/* fuzz/corpus/checkpoint/
for t in check ir data checkpoint; do echo "$t: $(ls fuzz/corpus/$t | wc -l) files"; done
