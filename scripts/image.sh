#!/usr/bin/env bash
# What `npm run image` runs: packages latchkey (npm run package) and builds its
# OCI image from packaging/Containerfile with buildah (no Docker engine needed;
# vfs storage, so no overlay mounts either), then writes it as an OCI archive
# to $DIST_BIN/latchkey-image.tar and prints its digest and size.
#
#   IMAGE         the tag (default latchkey:<package version>)
#   BUILDAH_ROOT  a storage root of its own (default buildah's, /var/lib/containers/storage)
#   DIST_BIN      where npm run package writes (default dist-bin); the build context
#   SKIP_PACKAGE  set to 1 to use the $DIST_BIN/rootfs/ already built
set -euo pipefail
cd "$(dirname "$0")/.."

if ! command -v buildah >/dev/null 2>&1; then
  echo "[image] buildah is missing: apt-get install buildah" >&2
  exit 1
fi
version="$(node -p 'require("./package.json").version')"
revision="$(git rev-parse HEAD 2>/dev/null || echo unknown)"
created="$(date -u +%Y-%m-%dT%H:%M:%SZ)"
image="${IMAGE:-localhost/latchkey:${version}}"
storage=(--storage-driver vfs)
if [ -n "${BUILDAH_ROOT:-}" ]; then storage+=(--root "$BUILDAH_ROOT/root" --runroot "$BUILDAH_ROOT/run"); fi

dist="${DIST_BIN:-dist-bin}"
[ "${SKIP_PACKAGE:-0}" = 1 ] || DIST_BIN="$dist" npm run --silent package
started=$(date +%s)
buildah "${storage[@]}" bud --quiet --layers=false -f packaging/Containerfile \
  --build-arg VERSION="$version" --build-arg REVISION="$revision" --build-arg CREATED="$created" \
  -t "$image" "$dist" >/dev/null
rm -f "$dist/latchkey-image.tar"
buildah "${storage[@]}" push --quiet "$image" "oci-archive:$dist/latchkey-image.tar:$image" >/dev/null
digest="$(buildah "${storage[@]}" inspect --type image --format '{{.FromImageDigest}}' "$image")"
size="$(stat -c %s "$dist/latchkey-image.tar")"
echo "[image] $image built in $(($(date +%s) - started)) s"
echo "[image] digest $digest"
echo "[image] size $((size / 1048576)) MiB ($size bytes, $dist/latchkey-image.tar)"
