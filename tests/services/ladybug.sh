#!/usr/bin/env bash
# Build LadybugDB's static library (the engine behind the `ladybug` feature of
# sluice-resources) once per machine, into a cache directory, and print that directory.
#
#   tests/services/ladybug.sh              # build if needed, print the directory
#   tests/services/ladybug.sh --prepare    # only install the compiler and fetch the source
#
# On a new machine the cache is seeded from the prebuilt archive in shared/cache/ when
# there is one and its sha256 matches (seconds); otherwise, or with
# SLUICE_LBUG_FROM_SOURCE=1, the library is built from the crate's C++ sources.
#
# The `lbug` crate would otherwise compile about 1,100 C++ files (some 50 minutes on two
# cores) for every profile and every clean target directory. With the archive cached,
# pointing LBUG_LIBRARY_DIR and LBUG_INCLUDE_DIR at this directory (sourcing
# `tests/services/ladybug.env`) makes a clean build of the crate take seconds.
#
# Debian 12's gcc cannot compile LadybugDB (no <format>), so it is built with clang 19
# and libc++, and everything that links it must use the same C++ library. Idempotent,
# and safe to run twice at once: the second run waits for the first.
set -euo pipefail
cd "$(dirname "$0")/../.."

fail() {
    echo "tests/services/ladybug.sh: $*" >&2
    exit 1
}

version=$(sed -n 's/^lbug = { version = "=\([0-9.]*\)".*/\1/p' Cargo.toml)
[[ -n "$version" ]] || fail "cannot read the lbug version from Cargo.toml"
cache="${SLUICE_LBUG_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/sluice/lbug-$version-clang19}"

# The lbug crate's bridge includes <lbug.h> and <lbug.hpp> from LBUG_INCLUDE_DIR.
ready() { [[ -f "$cache/liblbug.a" && -f "$cache/lbug.hpp" && -f "$cache/lbug.h" ]]; }
prepare_only=0
[[ "${1:-}" == "--prepare" ]] && prepare_only=1
if ready && ((!prepare_only)); then
    echo "$cache"
    exit 0
fi

packages=(cmake clang-19 libc++-19-dev libc++abi-19-dev libssl-dev python3)
missing=()
for package in "${packages[@]}"; do
    dpkg -s "$package" >/dev/null 2>&1 || missing+=("$package")
done
if ((${#missing[@]})); then
    echo "installing ${missing[*]}" >&2
    { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
        --no-install-recommends "${missing[@]}"; } >/dev/null 2>&1 || fail "cannot install ${missing[*]}"
fi

registry="${CARGO_HOME:-$HOME/.cargo}/registry/src"
source_dir() { find "$registry" -maxdepth 2 -type d -name "lbug-$version" 2>/dev/null | head -1; }
if [[ -z "$(source_dir)" ]]; then
    cargo fetch >&2 || fail "cannot fetch the lbug crate"
fi
src=$(source_dir)
[[ -d "$src/lbug-src" ]] || fail "the lbug $version crate has no lbug-src directory (looked in $registry)"
((prepare_only)) && exit 0

mkdir -p "$(dirname "$cache")"
exec 9>"$cache.lock"
flock 9
if ready; then
    echo "$cache"
    exit 0
fi

# A prebuilt archive of the same library (shared/cache/ beside the checkout, made with the
# recipe below) saves the C++ build on a new machine. It is used only when it matches its
# recorded sha256 and unpacks to the three files; anything else falls through to building.
seed_from_archive() {
    local dir archive sum staging
    for dir in ${SLUICE_LBUG_ARCHIVE_DIR:-} ../shared/cache /work/shared/cache; do
        archive="$dir/lbug-$version-clang19.tgz"
        [[ -f "$archive" && -f "$archive.sha256" ]] || continue
        sum=$(cut -d' ' -f1 "$archive.sha256")
        if [[ "$(sha256sum "$archive" | cut -d' ' -f1)" != "$sum" ]]; then
            echo "ignoring $archive: its sha256 does not match $archive.sha256" >&2
            continue
        fi
        staging="$cache.tmp"
        rm -rf "$staging"
        mkdir -p "$staging"
        if tar -xzf "$archive" -C "$staging" --strip-components=1 \
            && [[ -f "$staging/liblbug.a" && -f "$staging/lbug.hpp" && -f "$staging/lbug.h" ]]; then
            rm -rf "$cache"
            mv "$staging" "$cache"
            echo "seeded $cache from $archive" >&2
            return 0
        fi
        echo "ignoring $archive: it does not unpack to liblbug.a, lbug.hpp and lbug.h" >&2
        rm -rf "$staging"
    done
    return 1
}
if ((!${SLUICE_LBUG_FROM_SOURCE:-0})) && seed_from_archive; then
    echo "$cache"
    exit 0
fi

build="$cache.build"
echo "building LadybugDB $version into $cache (about 50 minutes on two cores, once per machine)" >&2
cmake -S "$src/lbug-src" -B "$build" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_COMPILER=clang-19 -DCMAKE_CXX_COMPILER=clang++-19 -DCMAKE_CXX_FLAGS=-stdlib=libc++ \
    -DBUILD_SHELL=OFF -DBUILD_SHARED_LBUG=OFF -DBUILD_SINGLE_FILE_HEADER=ON -DAUTO_UPDATE_GRAMMAR=OFF \
    >"$build.log" 2>&1 || fail "cmake configure failed: $(tail -20 "$build.log")"
cmake --build "$build" --parallel "$(nproc)" >>"$build.log" 2>&1 \
    || fail "the LadybugDB build failed (log: $build.log): $(tail -20 "$build.log")"

staging="$cache.tmp"
rm -rf "$staging"
mkdir -p "$staging"
cp "$build/src/liblbug.a" "$staging/"
cp "$(find "$build" -name lbug.hpp | head -1)" "$staging/"
cp "$src/lbug-src/src/include/c_api/lbug.h" "$staging/"
rm -rf "$cache"
mv "$staging" "$cache"
rm -rf "$build"
echo "$cache"
