#!/usr/bin/env bash
# make mutation: gremlins over the security core, one run per package, then
# the table of efficacy and mutant coverage (.ci/mutationtable).
#
#   .ci/mutation.sh [row ...]     # every row, or only the named ones (e.g. seal webhook)
#
# Each row mutates only the package's own files (--exclude-files keeps
# subpackages and test harnesses out) and runs that package's tests for each
# mutant. JSON reports go to $ARTIFACTS/mutation/<row>.json, gremlins' own
# output to <row>.log. Not part of make test: about 15 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."

version=v0.6.0
cache=${PROOFLINE_TOOL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/proofline/bin}
bin=$cache/gremlins-$version/gremlins
if [ ! -x "$bin" ]; then
  echo "installing gremlins $version into $cache/gremlins-$version"
  mkdir -p "$cache/gremlins-$version"
  GOBIN="$cache/gremlins-$version" go install "github.com/go-gremlins/gremlins/cmd/gremlins@$version"
fi

# gremlins times each mutant against its coverage run: a coverage run
# answered from the test cache would make every mutant time out.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1"

out=$(realpath -m "${ARTIFACTS:-$PWD/artifacts}")/mutation
mkdir -p "$out"

# row | path | files kept out (regexp on the path below it)
rows='
root|.|/
seal|./seal|/
resultstore|./resultstore|storetest/
proofing|./proofing|/
proofing/verification|./proofing/verification|/
proofing/attempts|./proofing/attempts|attemptstest/
server|./server|/
blobstore|./blobstore|/
blobstore/localblob|./blobstore/localblob|/
blobstore/s3blob|./blobstore/s3blob|/
webhook|./webhook|/
tenant|./tenant|/
'

want=" $* "
start=$(date +%s)
while IFS='|' read -r name path exclude; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ] && [[ "$want" != *" $name "* ]]; then continue; fi
  file=$out/$(echo "$name" | tr / -)
  echo "== $name ($path)"
  t0=$(date +%s)
  # A mutant gremlins cannot settle (a test that hangs) counts as timed
  # out, not lived; the run itself is bounded by the timeout below.
  status=0
  rm -f "$file.json" # a row cut short leaves none, not an old one
  dir=.
  if [ "$path" = . ]; then
    # gremlins gathers coverage with `go test ./...` below the path it is
    # given: for the root package that would be the whole suite. The root
    # package imports only the standard library, so it runs in a copy that
    # holds just its files, go.mod and testdata.
    dir=$(mktemp -d)
    trap 'rm -rf "$dir"' EXIT
    cp go.mod go.sum "$dir"/
    git ls-files -z -- '*.go' ':!:*/*' | xargs -0 cp -t "$dir"/
    git ls-files -z -- testdata | xargs -0 cp --parents -t "$dir"/
  fi
  (cd "$dir" && timeout 15m "$bin" unleash "$path" --exclude-files "$exclude" --exclude-files '_test\.go$' \
    --timeout-coefficient 10 -o "$file.json") >"$file.log" 2>&1 || status=$?
  tail -n 4 "$file.log" | sed 's/^/   /'
  echo "   $(( $(date +%s) - t0 )) s, exit $status"
  if [ "$status" = 124 ]; then
    echo "   cut at 15 minutes: no report for $name (its log says how far it got)"
  fi
done <<<"$rows"
echo "all rows: $(( $(date +%s) - start )) s"
reports=$(ls "$out"/*.json 2>/dev/null || true)
if [ -z "$reports" ]; then
  echo "no row finished: see $out/*.log" >&2
  exit 1
fi
go run ./.ci/mutationtable $reports
