#!/usr/bin/env bash
# make mutation: gremlins over the security core, one run per package, then
# the table of efficacy and mutant coverage (.ci/mutationtable).
#
#   .ci/mutation.sh [row ...]     # every row, or only the named ones (e.g. seal webhook)
#
# Each row mutates only the package's own files (--exclude-files keeps
# subpackages and test harnesses out) and runs that package's tests for each
# mutant. JSON reports go to $ARTIFACTS/mutation/<row>.json, gremlins' own
# output to <row>.log. Not part of make test: 19 min 53 s on 2 cores, quiet (docs/testing.md).
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
# answered from the test cache would make every mutant time out. -trimpath
# keeps the build cache valid across directories: gremlins builds each
# mutant in a copy of the module per worker, and without it every copy
# compiles every package of the module again. -vet=off: a mutant is killed
# by a test, not by go vet.
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-count=1 -trimpath -vet=off"

out=$(realpath -m "${ARTIFACTS:-$PWD/artifacts}")/mutation
mkdir -p "$out"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# row | path | files kept out (regexp on the path below it) | timeout coefficient
rows='
root|.|/|10
seal|./seal|/|10
resultstore|./resultstore|storetest/|10
proofing|./proofing|/|10
proofing/verification|./proofing/verification|/|10
proofing/attempts|./proofing/attempts|attemptstest/|10
server|./server|/|10
blobstore|./blobstore|/|10
blobstore/localblob|./blobstore/localblob|/|10
blobstore/s3blob|./blobstore/s3blob|/|10
webhook|./webhook|/|5
tenant|./tenant|/|10
'

want=" $* "
start=$(date +%s)
while IFS='|' read -r name path exclude coefficient; do
  [ -n "$name" ] || continue
  if [ $# -gt 0 ] && [[ "$want" != *" $name "* ]]; then continue; fi
  file=$out/$(echo "$name" | tr / -)
  echo "== $name ($path)"
  t0=$(date +%s)
  status=0
  rm -f "$file.json" # a row cut short leaves none, not an old one
  # gremlins gathers coverage with `go test <path>/...` and takes the time
  # of that run, times the coefficient below, as each mutant's time limit;
  # each mutant runs only its own package's tests. So every row runs in a
  # copy of the module (the files git tracks, as they are in the working
  # tree) in which the packages below the row's path that it does not
  # mutate have no tests: the coverage run is the tests that can kill the
  # row's mutants, not (for server) the browser suite. The root package imports only the standard library: its copy
  # holds just its files, go.mod and testdata.
  dir=$tmp/$(echo "$name" | tr / -)
  mkdir -p "$dir"
  if [ "$path" = . ]; then
    cp go.mod go.sum "$dir"/
    git ls-files -z -- '*.go' ':!:*/*' | xargs -0 cp -t "$dir"/
    git ls-files -z -- testdata | xargs -0 cp --parents -t "$dir"/
  else
    git ls-files -z | xargs -0 cp --parents -t "$dir"/
    # Only the tests of packages the row does not mutate: a subpackage
    # mutated with the row (resultstore/redisstore) keeps its tests.
    (cd "$dir/${path#./}" && find . -mindepth 2 -name '*_test.go' -printf '%P\n' |
      { grep -E -- "$exclude" || true; } | xargs -r rm --)
  fi
  # Built once before gremlins starts, so its coverage run (and so each
  # mutant's limit) measures the tests, not the first compilation.
  (cd "$dir" && go test -cover -run '^$' "$path/..." >/dev/null 2>&1) || true
  # A mutant gremlins cannot settle (a test that hangs) counts as timed
  # out, not lived; the row itself is bounded by the timeout below. Each
  # mutant may wait coefficient × the coverage run's time: 10 leaves room
  # for a build under load; webhook's mutants that stop delivery hang its
  # tests (they wait for the outbox to empty), and its slower tests give
  # room enough at 5. Three workers on two cores: much of a mutant's time
  # is a test waiting (a timer, a hung mutant), not the CPU.
  (cd "$dir" && timeout 15m "$bin" unleash "$path" --exclude-files "$exclude" --exclude-files '_test\.go$' \
    --workers 3 --timeout-coefficient "$coefficient" -o "$file.json") >"$file.log" 2>&1 || status=$?
  tail -n 4 "$file.log" | sed 's/^/   /'
  echo "   $(( $(date +%s) - t0 )) s, exit $status"
  if [ "$status" = 124 ]; then
    echo "   cut at 15 minutes: no report for $name (its log says how far it got)"
  fi
  rm -rf "$dir"
done <<<"$rows"
echo "all rows: $(( $(date +%s) - start )) s"
reports=$(ls "$out"/*.json 2>/dev/null || true)
if [ -z "$reports" ]; then
  echo "no row finished: see $out/*.log" >&2
  exit 1
fi
go run ./.ci/mutationtable $reports
