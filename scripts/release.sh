#!/usr/bin/env bash
# release.sh: build the release archives of kubectl-piyasa and render its Krew
# manifest. Nothing is uploaded: publish dist/ as the release's assets and
# commit krew/plugins/piyasa.yaml (the project's Krew index).
#
# Usage: scripts/release.sh --version vX.Y.Z [options]     (or: make release VERSION=vX.Y.Z)
#   --version V     release version, a semver tag with a leading v ($VERSION)
#   --platforms P   space- or comma-separated os/arch list ($PLATFORMS);
#                   default: linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64
#   --uri-base U    where the archives will be downloaded from ($RELEASE_URI_BASE);
#                   default: https://github.com/piyasa/kubectl-piyasa/releases/download/<version>
#   --dist D        output directory, emptied first ($DIST; default: dist)
#   --ref R         build a clean export of git revision R (e.g. the tag, or HEAD)
#                   instead of the working tree ($RELEASE_REF; make release uses HEAD)
#   --index I       Krew index root to write plugins/piyasa.yaml into ($KREW_INDEX;
#                   default: krew; "" for none). Written only when every default
#                   platform is built, because the index must name them all.
#
# Per platform it builds every main package under plugins/ (the binaries that
# exist: the archive grows as subcommands land) with CGO_ENABLED=0, -trimpath,
# -ldflags "-s -w" and the version stamp, and packs them with LICENSE and a
# README into kubectl-piyasa_<version>_<os>_<arch>.tar.gz (.zip for windows).
# Archives are reproducible: fixed file times (the commit's time, or
# $SOURCE_DATE_EPOCH), sorted entries, numeric owner 0.
# Output: dist/*.tar.gz, dist/*.zip, dist/SHA256SUMS, dist/piyasa.yaml; the
# last line printed is the dist directory.
set -euo pipefail

ALL_PLATFORMS="linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64"
VERSION=${VERSION:-}
PLATFORMS=${PLATFORMS:-$ALL_PLATFORMS}
URI_BASE=${RELEASE_URI_BASE:-}
DIST=${DIST:-dist}
INDEX=${KREW_INDEX-krew}
REF=${RELEASE_REF:-}

usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
die() { echo "error: $1" >&2; [ -n "${2:-}" ] && echo "hint: $2" >&2; exit "${3:-1}"; }

while [ $# -gt 0 ]; do
  case $1 in
    --version) VERSION=${2-}; shift 2 ;;
    --version=*) VERSION=${1#*=}; shift ;;
    --platforms) PLATFORMS=${2-}; shift 2 ;;
    --platforms=*) PLATFORMS=${1#*=}; shift ;;
    --uri-base) URI_BASE=${2-}; shift 2 ;;
    --uri-base=*) URI_BASE=${1#*=}; shift ;;
    --dist) DIST=${2-}; shift 2 ;;
    --dist=*) DIST=${1#*=}; shift ;;
    --ref) REF=${2-}; shift 2 ;;
    --ref=*) REF=${1#*=}; shift ;;
    --index) INDEX=${2-}; shift 2 ;;
    --index=*) INDEX=${1#*=}; shift ;;
    -h|--help) usage ;;
    *) die "unknown argument \"$1\"" "see scripts/release.sh --help" 2 ;;
  esac
done

if ! [[ $VERSION =~ ^v(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)(-[0-9A-Za-z.-]+)?$ ]]; then
  die "version \"$VERSION\" is not a release tag like v0.1.0" "make release VERSION=v0.1.0 (Krew needs a semver version with a leading v)" 2
fi
PLATFORMS=${PLATFORMS//,/ }
for p in $PLATFORMS; do
  case " $ALL_PLATFORMS " in *" $p "*) ;; *) die "unsupported platform \"$p\"" "use some of: $ALL_PLATFORMS" 2 ;; esac
done
URI_BASE=${URI_BASE:-https://github.com/piyasa/kubectl-piyasa/releases/download/$VERSION}
URI_BASE=${URI_BASE%/}

ROOT=$(cd "$(dirname "$0")/.." && pwd)
cd "$ROOT"
case $DIST in /*) ;; *) DIST=$ROOT/$DIST ;; esac
if [ -n "$INDEX" ]; then case $INDEX in /*) ;; *) INDEX=$ROOT/$INDEX ;; esac; fi
# The dist directory is emptied: refuse one that holds anything but an earlier release.
if [ -d "$DIST" ] && [ -n "$(ls -A "$DIST")" ] && [ ! -f "$DIST/SHA256SUMS" ] && [ ! -d "$DIST/.stage" ] && [ ! -d "$DIST/.src" ]; then
  die "$DIST is not empty and holds no earlier release" "pass a new or empty directory with --dist" 2
fi

command -v go >/dev/null || die "go is not on PATH"
if command -v sha256sum >/dev/null; then SHA256="sha256sum"; else SHA256="shasum -a 256"; fi
case " $PLATFORMS " in *" windows/"*) command -v zip >/dev/null || die "zip is not installed (needed for the windows archive)" "apt-get install zip, or leave windows out with --platforms" ;; esac
tar --version 2>/dev/null | grep -q 'GNU tar' || die "GNU tar is needed for reproducible archives" "on macOS: brew install gnu-tar and put gtar first on PATH as tar"

# Version stamp: the tag, the commit (with -dirty for uncommitted changes to the sources) and the commit's time.
if [ -n "$REF" ]; then
  COMMIT=$(git rev-parse --short "$REF^{commit}" 2>/dev/null) || die "unknown git revision \"$REF\""
  EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct "$REF")}
  # A fixed path (dist/.src) lets go's build cache serve the next release.
  rm -rf "$DIST"
  SRC=$DIST/.src
  mkdir -p "$SRC"
  trap 'rm -rf "$SRC"' EXIT
  git archive --format=tar "$REF" | tar -x -C "$SRC"
  echo "== building $REF ($COMMIT) from a clean export" >&2
  cd "$SRC"
else
  COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
  if [ -n "$(git status --porcelain -- plugins shared go.mod go.sum 2>/dev/null)" ]; then
    COMMIT=$COMMIT-dirty
    echo "warning: uncommitted changes under plugins/, shared/ or go.mod: commit is stamped $COMMIT" >&2
  fi
  EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
fi
DATE=$(date -u -d "@$EPOCH" +%Y-%m-%dT%H:%M:%SZ 2>/dev/null || date -u -r "$EPOCH" +%Y-%m-%dT%H:%M:%SZ)
TOUCH=$(date -u -d "@$EPOCH" +%Y%m%d%H%M.%S 2>/dev/null || date -u -r "$EPOCH" +%Y%m%d%H%M.%S)
PKG=github.com/piyasa/kubectl-piyasa/shared/version
LDFLAGS="-s -w -X $PKG.Version=$VERSION -X $PKG.Commit=$COMMIT -X $PKG.Date=$DATE"

# The binaries that exist: every main package under plugins/, with the
# executable names of package suite (the one place they are made).
MAINS=()
declare -A BINARY
while read -r pkg exe; do
  MAINS+=("$pkg"); BINARY[$pkg]=$exe
done < <(go run ./shared/suite/cmd/binaries || echo FAILED)
case " ${MAINS[*]} " in *" FAILED "*) die "go run ./shared/suite/cmd/binaries failed" ;; esac
TAGS=$(go run ./shared/suite/cmd/binaries -tags) || die "go run ./shared/suite/cmd/binaries -tags failed"
[ ${#MAINS[@]} -gt 0 ] || die "no main packages under plugins/"

readme() {
  cat <<EOF
kubectl-piyasa $VERSION ($1)
==========================

kubectl plugins that operate the piyasa chat bot on Kubernetes:
kubectl piyasa deploy | scale | migrate | backup | diagnose (the binaries in
this archive are the subcommands this release contains).

Install with Krew (recommended):
  kubectl krew index add piyasa https://github.com/piyasa/krew-index.git
  kubectl krew install piyasa/piyasa

Install by hand: put every file named kubectl-piyasa* and
kubectl_complete-piyasa* from this archive into one directory on PATH, then
  kubectl piyasa --help
  kubectl piyasa version

Shell completion of 'kubectl piyasa ...': enable kubectl's completion
(source <(kubectl completion bash)); kubectl runs kubectl_complete-piyasa from
PATH. Scripts for the kubectl-piyasa command: kubectl piyasa completion --help

Exit codes: 0 ok, 1 failed or problems found, 2 usage error (nothing changed),
3 cluster unreachable, unauthorized or forbidden, or no such kubeconfig/context,
130 interrupted.

License: Apache-2.0 (LICENSE). Source: https://github.com/piyasa/kubectl-piyasa
EOF
}

mkdir -p "$DIST"
find "$DIST" -mindepth 1 -maxdepth 1 ! -name .src -exec rm -rf {} +
STAGE=$DIST/.stage
t0=$(date +%s)
declare -A ARCHIVE
for p in $PLATFORMS; do
  os=${p%/*} arch=${p#*/}
  dir=$STAGE/${os}_$arch
  mkdir -p "$dir"
  echo "== building ${#MAINS[@]} binaries for $p" >&2
  GOOS=$os GOARCH=$arch CGO_ENABLED=0 go build -trimpath -tags "$TAGS" -ldflags "$LDFLAGS" -o "$dir/" "${MAINS[@]/#/./}"
  ext=""; [ "$os" = windows ] && ext=.exe
  for m in "${MAINS[@]}"; do
    mv "$dir/${m#plugins/}$ext" "$dir/${BINARY[$m]}$ext"
  done
  cp LICENSE "$dir/LICENSE"
  readme "$p" > "$dir/README.md"
  chmod 0644 "$dir/LICENSE" "$dir/README.md"
  # Krew archives hold no symlinks (the completion links are made by make build/install).
  if [ -n "$(find "$dir" -type l)" ]; then die "symlinks in the $p archive: $(cd "$dir" && find . -type l)"; fi
  files=$(cd "$dir" && LC_ALL=C ls)
  (cd "$dir" && TZ=UTC touch -t "$TOUCH" $files)
  base=kubectl-piyasa_${VERSION}_${os}_$arch
  if [ "$os" = windows ]; then
    ARCHIVE[$p]=$base.zip
    (cd "$dir" && TZ=UTC zip -q -X -9 "$DIST/$base.zip" $files)
  else
    ARCHIVE[$p]=$base.tar.gz
    tar --sort=name --mtime="@$EPOCH" --owner=0 --group=0 --numeric-owner -C "$dir" -cf - $files | gzip -n -9 > "$DIST/$base.tar.gz"
  fi
done
echo "== built in $(( $(date +%s) - t0 ))s" >&2

(cd "$DIST" && $SHA256 "${ARCHIVE[@]}" | sort -k2 > SHA256SUMS)

# Render the manifest: the template without its header comment and without the
# blocks of platforms not built, then the placeholders filled in.
render() {
  local keep="" p sum
  for p in $PLATFORMS; do keep="$keep $p"; done
  awk -v keep="$keep " '
    BEGIN { body = 0; drop = 0 }
    /^apiVersion:/ { body = 1 }
    !body { next }
    /^  # platform / { drop = (index(keep, " " $3 " ") == 0) }
    !drop { print }
  ' krew/piyasa.yaml.tmpl > "$DIST/piyasa.yaml.tmp"
  local sed_args=(-e "s|{{VERSION}}|$VERSION|g" -e "s|{{URI_BASE}}|$URI_BASE|g")
  for p in $PLATFORMS; do
    sum=$(grep " ${ARCHIVE[$p]}\$" "$DIST/SHA256SUMS" | cut -d' ' -f1)
    sed_args+=(-e "s|{{SHA256_${p%/*}_${p#*/}}}|$sum|g")
  done
  sed "${sed_args[@]}" "$DIST/piyasa.yaml.tmp" > "$DIST/piyasa.yaml"
  rm "$DIST/piyasa.yaml.tmp"
  if grep -n '{{' "$DIST/piyasa.yaml" >&2; then die "unfilled placeholders in the manifest (krew/piyasa.yaml.tmpl)"; fi
}
render

all=1
for p in $ALL_PLATFORMS; do case " $PLATFORMS " in *" $p "*) ;; *) all=0 ;; esac; done
if [ -n "$INDEX" ]; then
  if [ $all = 1 ]; then
    mkdir -p "$INDEX/plugins"
    cp "$DIST/piyasa.yaml" "$INDEX/plugins/piyasa.yaml"
    echo "== wrote the Krew index manifest ${INDEX#"$ROOT"/}/plugins/piyasa.yaml" >&2
  else
    echo "== partial platform list: the Krew index in ${INDEX#"$ROOT"/} is left as it is (see $DIST/piyasa.yaml)" >&2
  fi
fi

# Sizes: the archive and its unpacked contents, per platform.
{
  printf '%-16s %-48s %10s %10s %s\n' PLATFORM ARCHIVE "SIZE(KiB)" "UNPACKED" FILES
  for p in $PLATFORMS; do
    dir=$STAGE/${p%/*}_${p#*/}
    printf '%-16s %-48s %10s %10s %s\n' "$p" "${ARCHIVE[$p]}" \
      "$(( $(wc -c < "$DIST/${ARCHIVE[$p]}") / 1024 ))" "$(du -sk --apparent-size "$dir" 2>/dev/null | cut -f1 || du -sk "$dir" | cut -f1)" \
      "$(cd "$dir" && ls | wc -l | tr -d ' ')"
  done
} >&2
rm -rf "$STAGE"
echo "$DIST"
