#!/usr/bin/env bash
# Build the packaged app: dist/ip2p/ with the windowed app `ip2p` and the CLI `ip2p-edit`.
#
#   packaging/build.sh            build (reuses PyInstaller's cache in build/pyinstaller)
#   packaging/build.sh --tar      build, then pack dist/ip2p-<version>-<os>-<arch>-<flavour>.tar.gz
#   packaging/build.sh --clean    drop the cache first (after upgrading torch, Qt, ...)
#
# Needs the app's dependencies plus PyInstaller in the active Python: pip install -e ".[package]".
# The flavour (cpu/cuda) follows the torch installed there; IP2P_BUILD_FLAVOR overrides it.
set -euo pipefail

usage() { sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; }

make_tar=0
clean=0
for arg in "$@"; do
    case "$arg" in
        --tar) make_tar=1 ;;
        --clean) clean=1 ;;
        -h|--help) usage; exit 0 ;;
        *) echo "build.sh: unknown option '$arg' (see --help)" >&2; exit 2 ;;
    esac
done

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"

if ! "$PYTHON" -c "import PyInstaller" 2>/dev/null; then
    echo "build.sh: PyInstaller is not installed in $PYTHON; run: pip install -e \".[package]\"" >&2
    exit 2
fi

workpath=build/pyinstaller
if [ "$clean" = 1 ]; then
    rm -rf "$workpath"
fi

started=$(date +%s)
"$PYTHON" -m PyInstaller --noconfirm --log-level "${PYI_LOG_LEVEL:-WARN}" \
    --distpath dist --workpath "$workpath" packaging/ip2p.spec
elapsed=$(( $(date +%s) - started ))

bundle=dist/ip2p
size_mb=$(du -sm "$bundle" | cut -f1)
echo "build.sh: built $bundle in ${elapsed} s, ${size_mb} MB unpacked"

if [ "$make_tar" = 1 ]; then
    version=$("$PYTHON" -c "import ip2p_core; print(ip2p_core.__version__)")
    flavor="${IP2P_BUILD_FLAVOR:-$("$PYTHON" -c "import torch; print('cuda' if torch.version.cuda else 'cpu')")}"
    os_name=$(uname -s | tr '[:upper:]' '[:lower:]')
    archive="dist/ip2p-${version}-${os_name}-$(uname -m)-${flavor}.tar.gz"
    # pigz packs on every core; plain gzip otherwise. Either way the archive unpacks with tar -xzf.
    if command -v pigz >/dev/null 2>&1; then
        tar -C dist -cf - ip2p | pigz -6 > "$archive.tmp"
    else
        tar -C dist -czf "$archive.tmp" ip2p
    fi
    mv "$archive.tmp" "$archive"
    echo "build.sh: packed $archive ($(du -m "$archive" | cut -f1) MB)"
fi
