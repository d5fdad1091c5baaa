#!/usr/bin/env bash
# Refresh the Leaflet files vendored in geo/data/ from the npm registry.
#
# rxtrace's offline maps inline these files into every HTML page they write, so nothing is
# fetched when a page opens; this script is only for upgrading Leaflet, never for running.
# Needs npm and access to the npm registry.
set -euo pipefail
VERSION="${1:-1.9.4}"
here="$(cd "$(dirname "$0")/.." && pwd)"
dest="$here/geo/data"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent "leaflet@$VERSION" >/dev/null && tar xzf "leaflet-$VERSION.tgz")
cp "$work/package/dist/leaflet.js" "$dest/leaflet.js"
cp "$work/package/dist/leaflet.css" "$dest/leaflet.css"
cp "$work/package/LICENSE" "$dest/LEAFLET-LICENSE"
for image in layers.png layers-2x.png marker-icon.png marker-icon-2x.png marker-shadow.png; do
  cp "$work/package/dist/images/$image" "$dest/leaflet-$image"
done
echo "leaflet $VERSION vendored into $dest"
