#!/bin/sh
# make package: zipped Lambda bootstraps for linux/arm64 and linux/amd64,
# named by git ref, and the SAM template for each, in dist/.
#
#   VERSION      git ref of the build (default: git rev-parse HEAD)
#   DEADLINE     proofing deadline in seconds, MaximumEventAge (default 60)
#   MOCK=1       add the ...MockFunction variants
#   PROXY=1      outbound proxy from /{env}/idp/doc-capture/{http,https,no}_proxy
#   RENDER_ARGS  more flags for `go run ./aws/deploy/render template` (-env k=v, -keep alias=version)
set -eu
GO=${GO:-go}
VERSION=${VERSION:-$(git rev-parse HEAD 2>/dev/null || true)}
if [ -z "$VERSION" ]; then
	echo "package: set VERSION to the git ref of this build" >&2
	exit 2
fi
DEADLINE=${DEADLINE:-60}
flags=""
[ "${MOCK:-}" = 1 ] && flags="$flags -mock"
[ "${PROXY:-}" = 1 ] && flags="$flags -proxy"
mkdir -p dist
for pair in arm64:arm64 amd64:x86_64; do
	goarch=${pair%%:*}
	arch=${pair#*:}
	build=dist/build-linux-$goarch
	zip=proofline-lambda-$VERSION-linux-$goarch.zip
	mkdir -p "$build"
	GOOS=linux GOARCH=$goarch CGO_ENABLED=0 $GO build -tags lambda.norpc -trimpath \
		-ldflags "-s -w -X main.version=$VERSION" -o "$build/bootstrap" ./cmd/proofline-lambda
	$GO run ./aws/deploy/render zip -o "dist/$zip" "$build/bootstrap"
	# shellcheck disable=SC2086
	$GO run ./aws/deploy/render template -ref "$VERSION" -code "$zip" -arch "$arch" -deadline "$DEADLINE" \
		$flags ${RENDER_ARGS:-} -o "dist/template-$VERSION-linux-$goarch.yaml"
	rm -rf "$build"
	echo "dist/$zip  dist/template-$VERSION-linux-$goarch.yaml"
done
