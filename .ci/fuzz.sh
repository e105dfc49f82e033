#!/usr/bin/env bash
# Runs every fuzz target in the module for the given time each (default 30s).
#
# Go 1.26's fuzz coordinator can fail a target with a bare "context deadline
# exceeded" just as -fuzztime runs out, having found nothing (go.dev/issue/75804,
# fixed in Go 1.27: the coordinator compares the fuzz context's error before the
# cancellation has reached it). A real finding always writes its input first
# ("Failing input written to ..."), so only that exact signature is retried, at
# most twice; anything else fails at once.
set -euo pipefail
fuzztime=${1:-30s}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
for dir in $(go list -f '{{.Dir}}' ./...); do
  pkg=$(go list "$dir")
  for target in $(grep -ho '^func Fuzz[A-Za-z0-9_]*' "$dir"/*_test.go 2>/dev/null | sed 's/^func //'); do
    for try in 1 2 3; do
      label=""; [ "$try" -gt 1 ] && label=", try $try"
      echo "== $pkg $target ($fuzztime$label)"
      if go test -run '^$' -fuzz "^${target}\$" -fuzztime "$fuzztime" "$pkg" 2>&1 | tee "$out"; test "${PIPESTATUS[0]}" -eq 0; then
        break
      fi
      if [ "$try" -lt 3 ] && grep -q '^    context deadline exceeded$' "$out" && ! grep -q 'Failing input written to' "$out"; then
        echo "   (the Go 1.26 coordinator's deadline race, go.dev/issue/75804, no input found: trying again)"
        continue
      fi
      exit 1
    done
  done
done
