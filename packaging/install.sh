#!/usr/bin/env bash
# Install the packaged IP2P Desktop for the current user (no root needed), or remove it.
#
#   ./install.sh                 install the bundle this script sits in (or dist/ip2p from a checkout)
#   ./install.sh --uninstall     remove what an earlier install put there
#   options: --prefix DIR        install under DIR instead of $PREFIX or ~/.local
#            --bundle DIR        install this bundle folder (the one holding ip2p and ip2p-edit)
#
# Layout under PREFIX:
#   lib/ip2p/                               the bundle (replaced as a whole on reinstall)
#   bin/ip2p, bin/ip2p-edit                 links into lib/ip2p
#   share/applications/ip2p.desktop         menu entry
#   share/icons/hicolor/{256x256,scalable}/apps/ip2p.{png,svg}
# Uninstall removes exactly the files listed in lib/ip2p/.install-manifest, never anything else.
set -euo pipefail

die() { echo "install.sh: $*" >&2; exit 1; }

prefix="${PREFIX:-$HOME/.local}"
bundle=""
action=install
while [ $# -gt 0 ]; do
    case "$1" in
        --uninstall) action=uninstall ;;
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix="$2"; shift ;;
        --prefix=*) prefix="${1#--prefix=}" ;;
        --bundle) [ $# -ge 2 ] || die "--bundle needs a folder"; bundle="$2"; shift ;;
        --bundle=*) bundle="${1#--bundle=}" ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option '$1' (see --help)" ;;
    esac
    shift
done

case "$prefix" in
    /*) ;;
    *) prefix="$(pwd)/$prefix" ;;
esac
lib_dir="$prefix/lib/ip2p"
bin_dir="$prefix/bin"
apps_dir="$prefix/share/applications"
icons_dir="$prefix/share/icons/hicolor"
manifest_name=".install-manifest"
marker="X-IP2P-Installed-By=install.sh"

refresh_desktop_caches() {
    # Menus pick up new entries by themselves on most desktops; these only speed it up.
    if command -v update-desktop-database >/dev/null 2>&1; then
        update-desktop-database -q "$apps_dir" 2>/dev/null || true
    fi
    if command -v gtk-update-icon-cache >/dev/null 2>&1 && [ -f "$icons_dir/index.theme" ]; then
        gtk-update-icon-cache -q -t "$icons_dir" 2>/dev/null || true
    fi
}

uninstall() {
    local manifest="$lib_dir/$manifest_name"
    if [ ! -f "$manifest" ]; then
        if [ -e "$lib_dir" ]; then
            die "$lib_dir was not installed by this script (no $manifest_name); remove it by hand if you are sure"
        fi
        echo "install.sh: IP2P Desktop is not installed under $prefix; nothing to do"
        return 0
    fi
    local path
    while IFS= read -r path; do
        [ -n "$path" ] || continue
        case "$path" in
            "$prefix"/*) ;;
            *) echo "install.sh: skipping '$path' (outside $prefix)" >&2; continue ;;
        esac
        if [ -L "$path" ]; then
            # Only our own links: a link someone re-pointed elsewhere stays.
            case "$(readlink "$path")" in
                "$lib_dir"/*) rm -f "$path" ;;
                *) echo "install.sh: leaving '$path' (it no longer points into $lib_dir)" >&2 ;;
            esac
        elif [ -f "$path" ]; then
            rm -f "$path"
        fi
    done < "$manifest"
    rm -rf "$lib_dir"
    refresh_desktop_caches
    echo "install.sh: removed IP2P Desktop from $prefix (your settings, models and logs are kept)"
}

find_bundle() {
    local here
    here="$(cd "$(dirname "$0")" && pwd)"
    if [ -n "$bundle" ]; then
        (cd "$bundle" 2>/dev/null && pwd) || die "bundle folder '$bundle' does not exist"
    elif [ -x "$here/ip2p" ] && [ -x "$here/ip2p-edit" ]; then
        echo "$here"  # running from inside an unpacked bundle / tar.gz
    elif [ -x "$here/../dist/ip2p/ip2p" ]; then
        (cd "$here/../dist/ip2p" && pwd)  # running from a source checkout after build.sh
    else
        die "no bundle found: run packaging/build.sh first or pass --bundle DIR"
    fi
}

install() {
    local source
    source="$(find_bundle)"
    [ -x "$source/ip2p" ] && [ -x "$source/ip2p-edit" ] || die "'$source' is not an IP2P bundle (no ip2p / ip2p-edit executables)"
    case "$lib_dir/" in
        "$source"/*) die "cannot install the bundle into itself ($lib_dir)" ;;
    esac
    if [ -e "$lib_dir" ] && [ ! -f "$lib_dir/$manifest_name" ]; then
        die "$lib_dir exists but was not installed by this script; move it away first"
    fi

    mkdir -p "$prefix/lib" "$bin_dir" "$apps_dir" "$icons_dir/256x256/apps" "$icons_dir/scalable/apps"

    # Copy next to the target, then swap: an interrupted install never leaves a half-copied app.
    local staging="$prefix/lib/.ip2p-installing.$$"
    rm -rf "$staging"
    trap 'rm -rf "$staging"' EXIT
    cp -a "$source/." "$staging/"
    rm -f "$staging/$manifest_name"
    if [ -e "$lib_dir" ]; then
        # Reinstall / upgrade: remove the old links and menu entry first, then the old bundle.
        uninstall >/dev/null
    fi
    mv "$staging" "$lib_dir"
    trap - EXIT

    local manifest="$lib_dir/$manifest_name"
    : > "$manifest"
    local name
    for name in ip2p ip2p-edit; do
        if [ -e "$bin_dir/$name" ] && [ ! -L "$bin_dir/$name" ]; then
            echo "install.sh: not replacing '$bin_dir/$name' (a file that is not ours)" >&2
            continue
        fi
        ln -sfn "$lib_dir/$name" "$bin_dir/$name"
        echo "$bin_dir/$name" >> "$manifest"
    done

    local icon_png="$icons_dir/256x256/apps/ip2p.png" icon_svg="$icons_dir/scalable/apps/ip2p.svg"
    if [ -f "$lib_dir/ip2p.png" ]; then cp "$lib_dir/ip2p.png" "$icon_png" && echo "$icon_png" >> "$manifest"; fi
    if [ -f "$lib_dir/ip2p.svg" ]; then cp "$lib_dir/ip2p.svg" "$icon_svg" && echo "$icon_svg" >> "$manifest"; fi

    # The menu entry calls the installed binary by absolute path: ~/.local/bin is often not on the
    # PATH of a graphical session. Quoted, so a prefix with spaces still works.
    local desktop="$apps_dir/ip2p.desktop"
    [ -f "$lib_dir/ip2p.desktop" ] || die "the bundle lacks ip2p.desktop; rebuild it with packaging/build.sh"
    sed -e "s|^Exec=ip2p\\b|Exec=\"$lib_dir/ip2p\"|" -e "s|^TryExec=.*|TryExec=$lib_dir/ip2p|" \
        "$lib_dir/ip2p.desktop" > "$desktop.tmp"
    echo "$marker" >> "$desktop.tmp"
    mv "$desktop.tmp" "$desktop"
    echo "$desktop" >> "$manifest"

    refresh_desktop_caches
    echo "install.sh: installed IP2P Desktop in $lib_dir"
    case ":$PATH:" in
        *":$bin_dir:"*) echo "install.sh: run 'ip2p' or 'ip2p-edit --help', or pick IP2P Desktop in the applications menu" ;;
        *) echo "install.sh: $bin_dir is not on your PATH; add it, or start $bin_dir/ip2p directly" ;;
    esac
}

"$action"
