#!/usr/bin/env bash
# build-deps.sh - cross-build the static Windows (x86_64-w64-mingw32) dependencies
# of wincrid.exe from Debian's source packages.
#
# Result: a prefix  ${WINCRI_WIN_DEPS_CACHE:-/var/cache/wincri}/win-deps-<key>
#         (include/ lib/ lib/pkgconfig/ link-flags.txt versions.txt), plus the
#         stable symlink ${WINCRI_WIN_DEPS_CACHE:-/var/cache/wincri}/win-deps.
# <key> hashes the Debian source versions, the mingw toolchain versions and
# this script's own content, so the prefix is rebuilt only when one changes.
# The prefix path is the last line printed on stdout.
#
# Environment:
#   WINCRI_WIN_DEPS_CACHE  cache root (default /var/cache/wincri)
#   WINCRI_JOBS            parallel build jobs (default 2)
#   WINCRI_KEEP_WORK=1     keep extracted sources/build trees after success
#   WINCRI_APT_UPDATE=1    force 'apt-get update' even on a warm cache
#   WINCRI_WIN_DEPS_KEY    override the computed key (debugging this script only)
set -euo pipefail

# The whole script is one compound command, so bash parses it completely before
# running anything (editing the file during a long build cannot derail it).
{
SCRIPT_PATH=$(readlink -f "${BASH_SOURCE[0]}")
CACHE_ROOT=${WINCRI_WIN_DEPS_CACHE:-/var/cache/wincri}
JOBS=${WINCRI_JOBS:-2}
HOST=x86_64-w64-mingw32
CC_WIN=${HOST}-gcc-posix
CXX_WIN=${HOST}-g++-posix
T_START=$(date +%s)

# Debian source packages, in build order.
PACKAGES=(zlib jansson protobuf-c sqlite3 libzstd libarchive openssl c-ares curl abseil re2 grpc)

# Host tools (Debian binary packages).
TOOLS=(gcc-mingw-w64-x86-64-posix g++-mingw-w64-x86-64-posix binutils-mingw-w64-x86-64
       mingw-w64-x86-64-dev cmake ninja-build make dpkg-dev wine wine64 unicode-data
       python3 python3-six perl tcl pkgconf xz-utils bzip2 gcc libc6-dev file)

# Windows system libraries needed by the static set (gRPC, OpenSSL, c-ares,
# abseil, curl/schannel, libarchive/CNG).  Order matters for GNU ld.
WIN_SYSLIBS="-lws2_32 -liphlpapi -lcrypt32 -lsecur32 -lbcrypt -ladvapi32 -luserenv -ldbghelp -lwinmm -lshell32 -lgdi32 -luser32 -lntdll -lkernel32"

say()  { printf '%s\n' "$*"; }
warn() { printf 'build-deps: warning: %s\n' "$*" >&2; }
die()  { printf 'build-deps: ERROR: %s\n' "$*" >&2; exit 1; }

mkdir -p "$CACHE_ROOT"
APT_LOG="$CACHE_ROOT/apt.log"

apt_q() {  # apt-get quietly, waiting for other apt users' locks
    DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=1800 \
        -o Acquire::Retries=3 "$@" >>"$APT_LOG" 2>&1
}

apt_update() {
    local i
    for i in 1 2 3 4 5 6 7 8 9 10; do
        apt_q update && return 0
        warn "apt-get update failed (try $i), retrying in 30s (log: $APT_LOG)"
        sleep 30
    done
    die "apt-get update keeps failing (log: $APT_LOG)"
}

# ---------------------------------------------------------------- host tools
ensure_tools() {
    local missing=() p
    for p in "${TOOLS[@]}"; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' \
            || missing+=("$p")
    done
    if ((${#missing[@]})); then
        say "installing host tools: ${missing[*]}"
        apt_q install -y --no-install-recommends "${missing[@]}" \
            || { apt_update; apt_q install -y --no-install-recommends "${missing[@]}"; } \
            || die "apt-get install ${missing[*]} failed (log: $APT_LOG)"
    fi
}

# ------------------------------------------------------------- deb-src list
SRC_LIST=/etc/apt/sources.list.d/wincri-src.sources

gen_src_list() {
    # Mirror every enabled Debian 'deb' entry as 'deb-src' (deb822 format).
    local f
    {
        for f in /etc/apt/sources.list.d/*.sources; do
            [[ -e $f && $f != "$SRC_LIST" ]] || continue
            awk '
                function flush() {
                    if (isdeb && debian && !disabled && uris != "" && suites != "") {
                        print "Types: deb-src"; print "URIs: " uris
                        print "Suites: " suites; print "Components: " comps
                        if (signed != "") print "Signed-By: " signed
                        print ""
                    }
                    isdeb = debian = disabled = 0; uris = suites = comps = signed = ""
                }
                /^[ \t]*#/ { next }
                /^[ \t]*$/ { flush(); next }
                { k = tolower($1); sub(/^[^:]*:[ \t]*/, ""); v = $0 }
                k == "types:"      { if (v ~ /(^|[ \t])deb([ \t]|$)/) isdeb = 1 }
                k == "uris:"       { uris = v; if (v ~ /debian/) debian = 1 }
                k == "suites:"     { suites = v }
                k == "components:" { comps = v }
                k == "signed-by:"  { signed = v }
                k == "enabled:"    { if (tolower(v) == "no") disabled = 1 }
                END { flush() }' "$f"
        done
        for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
            [[ -e $f ]] || continue
            awk '$1 == "deb" && /debian/ {
                    opts = ""; i = 2
                    if ($2 ~ /^\[/) { while ($i !~ /\]$/) { opts = opts " " $i; i++ }; opts = opts " " $i; i++ }
                    uri = $i; suite = $(i + 1); comps = ""
                    for (j = i + 2; j <= NF; j++) comps = comps (comps == "" ? "" : " ") $j
                    signed = ""
                    if (match(opts, /signed-by=[^] ]*/)) signed = substr(opts, RSTART + 10, RLENGTH - 10)
                    print "Types: deb-src"; print "URIs: " uri; print "Suites: " suite
                    print "Components: " comps; if (signed != "") print "Signed-By: " signed; print ""
                }' "$f"
        done
    } | awk 'BEGIN { RS = ""; ORS = "\n\n" } !seen[$0]++'
}

ensure_src_list() {
    local want
    want=$(gen_src_list)
    if [[ -z $want ]]; then
        local codename
        codename=$(. /etc/os-release && echo "${VERSION_CODENAME:-bookworm}")
        want=$(printf 'Types: deb-src\nURIs: http://deb.debian.org/debian\nSuites: %s %s-updates\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n\nTypes: deb-src\nURIs: http://deb.debian.org/debian-security\nSuites: %s-security\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' \
            "$codename" "$codename" "$codename")
    fi
    want=$(printf '# Written by wincri deploy/windows/build-deps.sh: source packages only,\n# beside (not instead of) the binary lists.\n%s\n' "$want")
    if [[ ! -f $SRC_LIST ]] || [[ "$(cat "$SRC_LIST")" != "$want" ]]; then
        say "writing $SRC_LIST (deb-src mirror of the existing Debian entries)"
        printf '%s\n' "$want" >"$SRC_LIST.tmp"
        mv "$SRC_LIST.tmp" "$SRC_LIST"
        apt_update
    fi
    # Source index present?
    if ! apt-get source --print-uris -qq jansson >/dev/null 2>&1; then
        apt_update
    fi
}

# --------------------------------------------------------------------- key
candidate_version() {  # version (without epoch) apt-get source would fetch
    apt-get source --print-uris -qq "$1" 2>/dev/null \
        | sed -n "s/^'[^']*' ${1}_\(.*\)\.dsc .*/\1/p" | head -n1
}

compute_key() {
    local p v
    VERSIONS_TXT=""
    for p in "${PACKAGES[@]}"; do
        v=$(candidate_version "$p")
        [[ -n $v ]] || die "no Debian source package found for '$p' (is deb-src configured? see $SRC_LIST)"
        VERSIONS_TXT+="$p=$v"$'\n'
    done
    local tc
    tc=$(dpkg-query -W -f='${Package}=${Version}\n' gcc-mingw-w64-x86-64-posix \
         g++-mingw-w64-x86-64-posix mingw-w64-x86-64-dev binutils-mingw-w64-x86-64 2>/dev/null || true)
    KEY=$( { printf '%s' "$VERSIONS_TXT"; printf '%s\n' "$tc"; sha256sum <"$SCRIPT_PATH"; } \
           | sha256sum | cut -c1-12)
    KEY=${WINCRI_WIN_DEPS_KEY:-$KEY}
    PREFIX="$CACHE_ROOT/win-deps-$KEY"
}

link_current() {
    ln -sfn "$(basename "$PREFIX")" "$CACHE_ROOT/win-deps.tmp.$$"
    mv -Tf "$CACHE_ROOT/win-deps.tmp.$$" "$CACHE_ROOT/win-deps"
}

finish_warm() {
    link_current
    say "win-deps up to date (key $KEY, $(( $(date +%s) - T_START ))s)"
    say "$PREFIX"
    exit 0
}

# ============================================================ main: warm path
ensure_tools
[[ ${WINCRI_APT_UPDATE:-0} == 1 ]] && apt_update
ensure_src_list
compute_key
[[ -f $PREFIX/.complete ]] && finish_warm

exec 9>"$CACHE_ROOT/.build-deps.lock"
if ! flock -n 9; then
    say "another build-deps.sh holds $CACHE_ROOT/.build-deps.lock; waiting"
    flock 9
fi
[[ -f $PREFIX/.complete ]] && finish_warm

# Cold path: refresh the index so we build what the archive has now.
apt_update
compute_key
[[ -f $PREFIX/.complete ]] && finish_warm

WORK="$CACHE_ROOT/work-$KEY"
DL="$CACHE_ROOT/sources"        # downloaded .dsc/.orig/.debian (shared by keys)
SRC="$WORK/src"
BLD="$WORK/build"
LOGS="$WORK/logs"
STAMPS="$PREFIX/.stamps"
mkdir -p "$DL" "$SRC" "$BLD" "$LOGS" "$STAMPS" "$PREFIX"/{include,lib/pkgconfig}
say "building win-deps into $PREFIX (key $KEY, work dir $WORK, -j$JOBS)"

# ------------------------------------------------------------ fetch sources
declare -A DSC=()
fetch_source() {  # $1 = package; sets DSC[$1]
    local p=$1 want v tried=()
    want=$(printf '%s' "$VERSIONS_TXT" | sed -n "s/^$p=//p")
    if [[ ! -f $DL/${p}_$want.dsc ]]; then
        (cd "$DL" && apt_q source --download-only "$p") || true
    fi
    if [[ -f $DL/${p}_$want.dsc ]]; then
        DSC[$p]="$DL/${p}_$want.dsc"; return 0
    fi
    tried+=("$want")
    # A mirror may list a version whose files it does not hold (yet): fall back
    # to the next older version in the source index.
    while read -r v; do
        [[ ${v#*:} == "$want" ]] && continue
        tried+=("$v")
        if [[ -f $DL/${p}_${v#*:}.dsc ]] || (cd "$DL" && apt_q source --download-only "$p=$v"); then
            if [[ -f $DL/${p}_${v#*:}.dsc ]]; then
                warn "$p: candidate $want could not be downloaded; using ${v#*:}"
                DSC[$p]="$DL/${p}_${v#*:}.dsc"; return 0
            fi
        fi
    done < <(apt-cache showsrc --only-source "$p" 2>/dev/null | sed -n 's/^Version: //p' \
             | sort -u | sort -r -V)
    die "package $p: could not download its source (tried versions: ${tried[*]}; log: $APT_LOG)"
}

extract_source() {  # $1 = package -> echo source dir
    local p=$1 d="$SRC/$1"
    if [[ ! -f $d/.extracted ]]; then
        rm -rf "$d"
        dpkg-source -x "${DSC[$p]}" "$d" >>"$LOGS/$p.log" 2>&1 \
            || die "package $p: dpkg-source -x ${DSC[$p]} failed (log: $LOGS/$p.log)"
        touch "$d/.extracted"
    fi
    echo "$d"
}

# --------------------------------------------------------------- toolchain
TOOLCHAIN="$WORK/mingw-toolchain.cmake"
cat >"$TOOLCHAIN" <<EOF
# Generated by build-deps.sh: cross-compile for 64-bit Windows with mingw-w64.
set(CMAKE_SYSTEM_NAME Windows)
set(CMAKE_SYSTEM_PROCESSOR x86_64)
set(CMAKE_C_COMPILER   $CC_WIN)
set(CMAKE_CXX_COMPILER $CXX_WIN)
set(CMAKE_RC_COMPILER  $HOST-windres)
set(CMAKE_AR           /usr/bin/$HOST-ar CACHE FILEPATH "")
set(CMAKE_RANLIB       /usr/bin/$HOST-ranlib CACHE FILEPATH "")
set(CMAKE_FIND_ROOT_PATH "$PREFIX" /usr/$HOST)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
set(CMAKE_FIND_LIBRARY_SUFFIXES .a)
set(PKG_CONFIG_EXECUTABLE /usr/bin/pkg-config CACHE FILEPATH "")
EOF

export PKG_CONFIG_LIBDIR="$PREFIX/lib/pkgconfig"
export PKG_CONFIG_PATH=""
export PKG_CONFIG_SYSROOT_DIR=""
unset CFLAGS CXXFLAGS CPPFLAGS LDFLAGS || true
OPT_CFLAGS="-O2 -g0"

cmake_cfg() {  # $1 = source dir, $2 = build dir, rest = extra args
    local s=$1 b=$2; shift 2
    cmake -S "$s" -B "$b" -G Ninja \
        -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" \
        -DCMAKE_BUILD_TYPE=Release \
        -DCMAKE_C_FLAGS_RELEASE="$OPT_CFLAGS -DNDEBUG" \
        -DCMAKE_CXX_FLAGS_RELEASE="$OPT_CFLAGS -DNDEBUG" \
        -DCMAKE_INSTALL_PREFIX="$PREFIX" \
        -DCMAKE_PREFIX_PATH="$PREFIX" \
        -DCMAKE_INSTALL_LIBDIR=lib \
        -DCMAKE_INSTALL_INCLUDEDIR=include \
        -DBUILD_SHARED_LIBS=OFF \
        -DBUILD_TESTING=OFF \
        "$@"
}

write_pc() {  # $1 = file name, stdin = body (prefix= line is prepended)
    { printf 'prefix=%s\nexec_prefix=${prefix}\nlibdir=${prefix}/lib\nincludedir=${prefix}/include\n\n' "$PREFIX"; cat; } \
        >"$PREFIX/lib/pkgconfig/$1"
}

# ------------------------------------------------------------ the packages
build_zlib() {
    local s b; s=$(extract_source zlib); b="$BLD/zlib"
    # The dfsg tarball has no win32/ (zlib1.rc): build only the static target.
    cmake_cfg "$s" "$b"
    cmake --build "$b" -j"$JOBS" --target zlibstatic
    install -m644 "$b/libzlibstatic.a" "$PREFIX/lib/libz.a"
    install -m644 "$s/zlib.h" "$b/zconf.h" "$PREFIX/include/"
    write_pc zlib.pc <<EOF
Name: zlib
Description: zlib compression library
Version: $(sed -n 's/^#define ZLIB_VERSION "\(.*\)"/\1/p' "$s/zlib.h")
Libs: -L\${libdir} -lz
Cflags: -I\${includedir}
EOF
}

build_jansson() {
    local s b; s=$(extract_source jansson); b="$BLD/jansson"
    cmake_cfg "$s" "$b" -DJANSSON_BUILD_SHARED_LIBS=OFF -DJANSSON_BUILD_DOCS=OFF \
        -DJANSSON_EXAMPLES=OFF -DJANSSON_WITHOUT_TESTS=ON -DUSE_URANDOM=OFF -DUSE_WINDOWS_CRYPTOAPI=ON
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
    [[ -f $PREFIX/lib/pkgconfig/jansson.pc ]]
}

build_protobuf-c() {
    local s b; s=$(extract_source protobuf-c); b="$BLD/protobuf-c"
    mkdir -p "$b"
    (cd "$b" && "$s/configure" --host=$HOST --prefix="$PREFIX" --libdir="$PREFIX/lib" \
        --enable-static --disable-shared --disable-protoc \
        CC=$CC_WIN CXX=$CXX_WIN CFLAGS="$OPT_CFLAGS")
    make -C "$b" -j"$JOBS"
    make -C "$b" install
    [[ -f $PREFIX/lib/pkgconfig/libprotobuf-c.pc ]]
}

build_sqlite3() {
    local s b; s=$(extract_source sqlite3); b="$BLD/sqlite3"
    # Debian ships the full tree, not the amalgamation.  Generate sqlite3.c /
    # sqlite3.h natively (needs tclsh; the result is platform independent),
    # then compile that single file with mingw.
    mkdir -p "$b/host"
    (cd "$b/host" && "$s/configure" --disable-tcl --disable-readline --disable-editline \
        --disable-shared CC=gcc CFLAGS=-O0)
    make -C "$b/host" -j"$JOBS" sqlite3.c sqlite3.h
    $CC_WIN $OPT_CFLAGS -c -o "$b/sqlite3.o" "$b/host/sqlite3.c" -I"$b/host" \
        -DSQLITE_THREADSAFE=1 -DSQLITE_ENABLE_MATH_FUNCTIONS -DSQLITE_ENABLE_COLUMN_METADATA=1 \
        -DSQLITE_ENABLE_UNLOCK_NOTIFY=1 -DSQLITE_ENABLE_FTS5 -DSQLITE_ENABLE_RTREE=1 \
        -DSQLITE_MAX_VARIABLE_NUMBER=250000 -DSQLITE_DEFAULT_FOREIGN_KEYS=0
    rm -f "$PREFIX/lib/libsqlite3.a"
    $HOST-ar rcs "$PREFIX/lib/libsqlite3.a" "$b/sqlite3.o"
    install -m644 "$b/host/sqlite3.h" "$s/src/sqlite3ext.h" "$PREFIX/include/"
    write_pc sqlite3.pc <<EOF
Name: SQLite
Description: SQL database engine
Version: $(cat "$s/VERSION")
Libs: -L\${libdir} -lsqlite3
Cflags: -I\${includedir}
EOF
}

build_libzstd() {
    local s b; s=$(extract_source libzstd); b="$BLD/libzstd"
    cmake_cfg "$s/build/cmake" "$b" -DZSTD_BUILD_SHARED=OFF -DZSTD_BUILD_STATIC=ON \
        -DZSTD_BUILD_PROGRAMS=OFF -DZSTD_BUILD_TESTS=OFF -DZSTD_BUILD_CONTRIB=OFF \
        -DZSTD_MULTITHREAD_SUPPORT=ON -DZSTD_LEGACY_SUPPORT=OFF
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
    rm -rf "$PREFIX/bin"
    local v
    v=$(sed -n 's/^#define ZSTD_VERSION_\(MAJOR\|MINOR\|RELEASE\) *\([0-9]*\).*/\2/p' "$s/lib/zstd.h" | paste -sd.)
    write_pc libzstd.pc <<EOF
Name: zstd
Description: fast lossless compression algorithm library
Version: $v
Libs: -L\${libdir} -lzstd
Cflags: -I\${includedir}
EOF
}

build_libarchive() {
    local s b; s=$(extract_source libarchive); b="$BLD/libarchive"
    cmake_cfg "$s" "$b" -DENABLE_ZLIB=ON -DENABLE_ZSTD=ON \
        -DENABLE_OPENSSL=OFF -DENABLE_MBEDTLS=OFF -DENABLE_NETTLE=OFF -DENABLE_LIBB2=OFF \
        -DENABLE_LZ4=OFF -DENABLE_LZO=OFF -DENABLE_LZMA=OFF -DENABLE_BZip2=OFF \
        -DENABLE_LIBXML2=OFF -DENABLE_EXPAT=OFF -DENABLE_PCREPOSIX=OFF -DENABLE_LIBGCC=OFF \
        -DENABLE_CNG=ON -DENABLE_TAR=OFF -DENABLE_CPIO=OFF -DENABLE_CAT=OFF \
        -DENABLE_XATTR=OFF -DENABLE_ACL=OFF -DENABLE_ICONV=OFF -DENABLE_TEST=OFF \
        -DENABLE_WERROR=OFF -DPOSIX_REGEX_LIB=NONE -DCMAKE_CROSSCOMPILING_EMULATOR=/bin/false
    # (its one try-run, "is zlib built with ZLIB_WINAPI", must answer no for
    # our zlib; cmake 3.25 segfaults on that check without an emulator)
    grep -q '^#define HAVE_LIBZ 1' "$b/config.h"        # zlib (gzip) found
    grep -q '^#define HAVE_LIBZSTD 1' "$b/config.h"     # zstd found
    cmake --build "$b" -j"$JOBS" --target archive_static
    install -m644 "$b"/libarchive/libarchive_static.a "$PREFIX/lib/libarchive.a"
    install -m644 "$s/libarchive/archive.h" "$s/libarchive/archive_entry.h" "$PREFIX/include/"
    write_pc libarchive.pc <<EOF
Name: libarchive
Description: library that can create and read several streaming archive formats
Version: $(sed -n 's/^#define[[:space:]]*ARCHIVE_VERSION_ONLY_STRING "\(.*\)"/\1/p' "$s/libarchive/archive.h")
Requires.private: zlib libzstd wincri-win32
Libs: -L\${libdir} -larchive
Cflags: -I\${includedir} -DLIBARCHIVE_STATIC
EOF
}

build_openssl() {
    local s b; s=$(extract_source openssl); b="$BLD/openssl"
    mkdir -p "$b"
    (cd "$b" && perl "$s/Configure" mingw64 --cross-compile-prefix=$HOST- CC=gcc-posix \
        --prefix="$PREFIX" --libdir=lib --openssldir="$PREFIX/ssl" \
        no-shared no-tests no-module -O2 -g0)
    make -C "$b" -j"$JOBS" build_libs
    make -C "$b" install_dev
    rm -rf "$PREFIX/ssl"
    [[ -f $PREFIX/lib/libcrypto.a && -f $PREFIX/lib/pkgconfig/libcrypto.pc ]]
}

build_c-ares() {
    local s b; s=$(extract_source c-ares); b="$BLD/c-ares"
    cmake_cfg "$s" "$b" -DCARES_STATIC=ON -DCARES_SHARED=OFF -DCARES_BUILD_TOOLS=OFF \
        -DCARES_BUILD_TESTS=OFF -DCARES_INSTALL=ON \
        -DCMAKE_C_FLAGS="-DINADDRSZ=4"
    # (Debian's CVE-2023-31130 backport uses INADDRSZ, which only glibc's
    # <arpa/nameser.h> defines; upstream later switched to NS_INADDRSZ = 4.)
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
    rm -rf "$PREFIX/bin"
    grep -q CARES_STATICLIB "$PREFIX/lib/pkgconfig/libcares.pc" \
        || sed -i 's/^Cflags: .*/& -DCARES_STATICLIB/' "$PREFIX/lib/pkgconfig/libcares.pc"
}

build_curl() {
    local s b; s=$(extract_source curl); b="$BLD/curl"
    cmake_cfg "$s" "$b" -DBUILD_CURL_EXE=OFF -DCURL_USE_SCHANNEL=ON -DCURL_USE_OPENSSL=OFF \
        -DCURL_CA_BUNDLE=none -DCURL_CA_PATH=none -DCURL_ZLIB=ON -DCURL_ZSTD=OFF -DCURL_BROTLI=OFF \
        -DCURL_USE_LIBSSH2=OFF -DCURL_USE_LIBSSH=OFF -DUSE_LIBIDN2=OFF -DUSE_NGHTTP2=OFF \
        -DUSE_WIN32_IDN=OFF -DCURL_DISABLE_LDAP=ON -DCURL_DISABLE_LDAPS=ON -DENABLE_MANUAL=OFF \
        -DCURL_USE_GSSAPI=OFF -DENABLE_ARES=OFF -DHAVE_LIBZ=ON
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
    rm -rf "$PREFIX/bin"
    local pc="$PREFIX/lib/pkgconfig/libcurl.pc"
    grep -q CURL_STATICLIB "$pc" || sed -i 's/^Cflags: .*/& -DCURL_STATICLIB/' "$pc"
    # Use our zlib/system-libs .pc files instead of absolute paths.
    # (curl's cmake writes the toolchain's implicit libs and an absolute libz.a
    # path into Libs.)
    sed -i -e '/^Libs.private:/d' -e '/^Requires.private:/d' \
        -e 's|^Libs:.*|Libs: -L${libdir} -lcurl|' "$pc"
    printf 'Requires.private: zlib wincri-win32\n' >>"$pc"
}

build_abseil() {
    local s b; s=$(extract_source abseil); b="$BLD/abseil"
    cmake_cfg "$s" "$b" -DCMAKE_CXX_STANDARD=17 -DABSL_PROPAGATE_CXX_STD=ON \
        -DABSL_ENABLE_INSTALL=ON -DABSL_BUILD_TESTING=OFF -DABSL_USE_EXTERNAL_GOOGLETEST=ON
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
}

build_re2() {
    local s b; s=$(extract_source re2); b="$BLD/re2"
    # The dfsg tarball drops the generated tables: regenerate them from
    # Debian's unicode-data with the package's own scripts.
    [[ -f /usr/share/unicode/UnicodeData.txt ]] || die "re2: /usr/share/unicode missing (unicode-data)"
    (cd "$s" && perl re2/make_perl_groups.pl >re2/perl_groups.cc \
        && /usr/bin/python3 re2/make_unicode_casefold.py >re2/unicode_casefold.cc \
        && /usr/bin/python3 re2/make_unicode_groups.py >re2/unicode_groups.cc)
    cmake_cfg "$s" "$b" -DCMAKE_CXX_STANDARD=17 -DRE2_BUILD_TESTING=OFF
    cmake --build "$b" -j"$JOBS"
    cmake --install "$b"
    write_pc re2.pc <<EOF
Name: re2
Description: RE2 is a fast, safe, thread-friendly regular expression engine.
Version: 0.0.0
Libs: -L\${libdir} -lre2
Cflags: -I\${includedir}
EOF
}

build_grpc() {
    local s b; s=$(extract_source grpc); b="$BLD/grpc"
    # The Debian tarball strips these third-party trees; cmake only needs them to exist
    # (otherwise it tries to download them).
    mkdir -p "$s"/third_party/{envoy-api,googleapis,opencensus-proto/src,xds}
    cmake_cfg "$s" "$b" -DCMAKE_CXX_STANDARD=17 \
        -DgRPC_INSTALL=OFF -DgRPC_BUILD_TESTS=OFF -DgRPC_BUILD_CODEGEN=OFF -DgRPC_BUILD_CSHARP_EXT=OFF \
        -DgRPC_BUILD_GRPC_CPP_PLUGIN=OFF -DgRPC_BUILD_GRPC_CSHARP_PLUGIN=OFF \
        -DgRPC_BUILD_GRPC_NODE_PLUGIN=OFF -DgRPC_BUILD_GRPC_OBJECTIVE_C_PLUGIN=OFF \
        -DgRPC_BUILD_GRPC_PHP_PLUGIN=OFF -DgRPC_BUILD_GRPC_PYTHON_PLUGIN=OFF \
        -DgRPC_BUILD_GRPC_RUBY_PLUGIN=OFF \
        -DgRPC_ZLIB_PROVIDER=package -DgRPC_CARES_PROVIDER=package -DgRPC_SSL_PROVIDER=package \
        -DgRPC_ABSL_PROVIDER=package -DgRPC_RE2_PROVIDER=package \
        -DgRPC_PROTOBUF_PROVIDER=none -DgRPC_BENCHMARK_PROVIDER=none \
        -DOPENSSL_ROOT_DIR="$PREFIX" -DOPENSSL_USE_STATIC_LIBS=ON -DZLIB_ROOT="$PREFIX"
    # C core only: libgrpc and what it links (gpr, upb, address_sorting).
    cmake --build "$b" -j"$JOBS" --target grpc
    local l
    for l in grpc gpr upb address_sorting; do
        install -m644 "$b/lib$l.a" "$PREFIX/lib/"
    done
    rm -rf "$PREFIX/include/grpc"
    cp -r "$s/include/grpc" "$PREFIX/include/"
    install -D -m644 "$s/etc/roots.pem" "$PREFIX/share/grpc/roots.pem"
    # Take the abseil requirements from gRPC's own generated .pc files.
    local gen="$b/libs/opt/pkgconfig" absl gpr_absl ver
    [[ -f $gen/grpc.pc && -f $gen/gpr.pc ]] || { echo "gRPC did not generate $gen/{grpc,gpr}.pc"; return 1; }
    absl=$(sed -n 's/^Requires: *//p' "$gen/grpc.pc" | tr ' ' '\n' | grep '^absl_' | paste -sd' ')
    gpr_absl=$(sed -n 's/^Requires: *//p' "$gen/gpr.pc")
    ver=$(sed -n 's/^Version: *//p' "$gen/grpc.pc")
    write_pc gpr.pc <<EOF
Name: gpr
Description: gRPC platform support library
Version: $ver
Requires: $gpr_absl
Requires.private: wincri-win32
Libs: -L\${libdir} -lgpr
Cflags: -I\${includedir}
EOF
    write_pc grpc.pc <<EOF
Name: gRPC
Description: high performance general RPC framework (C core, static, mingw-w64)
Version: $ver
Requires: gpr openssl re2 libcares zlib $absl
Requires.private: wincri-win32
Libs: -L\${libdir} -lgrpc -laddress_sorting -lupb
Cflags: -I\${includedir}
EOF
}

# --------------------------------------------------------- system-libs .pc
write_syslibs_pc() {
    # Static C++ runtime and Windows import libraries; every C++ or
    # Windows-API-using package above requires this so it lands last.
    write_pc wincri-win32.pc <<EOF
Name: wincri-win32
Description: C++ runtime and Windows system libraries for the static wincri deps
Version: 1
Libs: -lstdc++ -lwinpthread $WIN_SYSLIBS
EOF
}

fixup_pcs() {
    local pc
    # openssl / c-ares / jansson / protobuf-c / sqlite3 / zstd: make them pull
    # in the Windows system libs (and C++ runtime, for abseil/re2) last.
    for pc in libcrypto libssl libcares jansson libprotobuf-c sqlite3 re2 libzstd; do
        pc="$PREFIX/lib/pkgconfig/$pc.pc"
        [[ -f $pc ]] || continue
        grep -q wincri-win32 "$pc" && continue
        if grep -q '^Requires.private:' "$pc"; then
            sed -i 's/^Requires.private:.*/&, wincri-win32/' "$pc"
        else
            printf 'Requires.private: wincri-win32\n' >>"$pc"
        fi
    done
    # abseil's generated .pc files: Debian's latomic.diff adds
    # "-Wl,--push-state,--as-needed -latomic -Wl,--pop-state", which pkgconf's
    # de-duplication tears apart (unbalanced --pop-state), and not needed on
    # x86_64; and the Windows link options come out as bare quoted names
    # ("bcrypt", "dbghelp", "advapi32") that must be -l flags.  They must NOT
    # require wincri-win32 themselves: pkgconf then expands the graph per path
    # (megabytes of flags); wincri-win32 comes after them via grpc/gpr/re2.
    for pc in "$PREFIX"/lib/pkgconfig/absl_*.pc; do
        sed -i -e 's/ *-Wl,--push-state,--as-needed -latomic -Wl,--pop-state//' \
               -e 's/ *"\([A-Za-z0-9_]*\)"/ -l\1/g' \
               -e 's/, wincri-win32$//' -e '/^Requires.private: wincri-win32$/d' "$pc"
    done
    # Drop stray prefixes of the build machine, if any.
    sed -i "s|^prefix=.*|prefix=$PREFIX|" "$PREFIX"/lib/pkgconfig/*.pc
}

# -------------------------------------------------------------- build loop
declare -A PKG_TIME=()
run_pkg() {
    local p=$1 t0 rc=0
    if [[ -f $STAMPS/$p ]]; then
        PKG_TIME[$p]="cached"
        say "  $(printf '%-11s' "$p") already built ($(cat "$STAMPS/$p"))"
        return 0
    fi
    fetch_source "$p"
    t0=$(date +%s)
    # Run in a background subshell: errexit is ignored in a subshell that is
    # the left side of '||', but honoured in an asynchronous one.
    ( set -x; "build_$p" ) >>"$LOGS/$p.log" 2>&1 &
    wait $! || rc=$?
    local dt=$(( $(date +%s) - t0 ))
    if ((rc != 0)); then
        say "  $(printf '%-11s' "$p") FAILED after ${dt}s"
        tail -n 40 "$LOGS/$p.log" >&2 || true
        die "package $p failed to build (exit $rc); full log: $LOGS/$p.log"
    fi
    PKG_TIME[$p]="${dt}s"
    echo "$(basename "${DSC[$p]}" .dsc) ${dt}s" >"$STAMPS/$p"
    say "  $(printf '%-11s' "$p") ok  $(printf '%5ss' "$dt")  $(basename "${DSC[$p]}" .dsc)  log: $LOGS/$p.log"
}

write_syslibs_pc
for p in "${PACKAGES[@]}"; do
    run_pkg "$p"
done
fixup_pcs

# ------------------------------------------------------------ verification
PCS="grpc jansson libprotobuf-c libcurl sqlite3 libarchive libcrypto"
VER="$WORK/verify"
mkdir -p "$VER"
cat >"$VER/verify.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <stdlib.h>
#include <grpc/grpc.h>
#include <jansson.h>
#include <protobuf-c/protobuf-c.h>
#include <curl/curl.h>
#include <sqlite3.h>
#include <archive.h>
#include <archive_entry.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

static int sq_cb(void *arg, int n, char **v, char **c) {
    (void)n; (void)c; snprintf((char *)arg, 64, "%s", v[0] ? v[0] : "NULL"); return 0;
}

static int tar_roundtrip(int filter, char *out, size_t outsz) {
    static char buf[1 << 16];
    size_t used = 0;
    const char msg[] = "hello from wincri\n";
    struct archive *a = archive_write_new();
    archive_write_set_format_pax_restricted(a);
    if (filter == 1) archive_write_add_filter_gzip(a);
    else archive_write_add_filter_zstd(a);
    if (archive_write_open_memory(a, buf, sizeof buf, &used) != ARCHIVE_OK) return -1;
    struct archive_entry *e = archive_entry_new();
    archive_entry_set_pathname(e, "hello.txt");
    archive_entry_set_size(e, sizeof msg - 1);
    archive_entry_set_filetype(e, AE_IFREG);
    archive_entry_set_perm(e, 0644);
    archive_write_header(a, e);
    archive_write_data(a, msg, sizeof msg - 1);
    archive_entry_free(e);
    archive_write_close(a);
    archive_write_free(a);

    struct archive *r = archive_read_new();
    archive_read_support_filter_all(r);
    archive_read_support_format_all(r);
    if (archive_read_open_memory(r, buf, used) != ARCHIVE_OK) return -2;
    struct archive_entry *re;
    if (archive_read_next_header(r, &re) != ARCHIVE_OK) return -3;
    la_ssize_t n = archive_read_data(r, out, outsz - 1);
    out[n > 0 ? n : 0] = 0;
    int ok = strcmp(out, msg) == 0;
    out[strcspn(out, "\n")] = 0;
    snprintf(out + strlen(out), outsz - strlen(out), " <- %s [%s, %s, %zu bytes]",
             archive_entry_pathname(re), archive_filter_name(r, 0), archive_format_name(r), used);
    archive_read_free(r);
    return ok ? 0 : -4;
}

int main(void) {
    int fail = 0;
    printf("grpc:        core %s ('g' stands for \"%s\")\n", grpc_version_string(), grpc_g_stands_for());
    grpc_init();
    printf("grpc_init:   ok (initialized=%d)\n", grpc_is_initialized());
    grpc_shutdown();

    json_t *o = json_pack("{s:s, s:i, s:b}", "runtime", "wincri", "answer", 42, "windows", 1);
    char *js = json_dumps(o, JSON_SORT_KEYS | JSON_COMPACT);
    printf("jansson:     %s %s\n", JANSSON_VERSION, js);
    fail |= js == NULL;
    free(js); json_decref(o);

    printf("protobuf-c:  %s\n", protobuf_c_version());

    curl_global_init(CURL_GLOBAL_DEFAULT);
    printf("curl:        %s\n", curl_version());
    curl_global_cleanup();

    sqlite3 *db; char res[64] = "";
    fail |= sqlite3_open(":memory:", &db) != SQLITE_OK;
    sqlite3_exec(db, "create table t(x); insert into t values (40),(2); select sum(x) from t;", sq_cb, res, NULL);
    sqlite3_close(db);
    printf("sqlite3:     %s (select sum = %s)\n", sqlite3_libversion(), res);
    fail |= strcmp(res, "42") != 0;

    printf("libarchive:  %s\n", archive_version_details());
    char out[256];
    int r = tar_roundtrip(1, out, sizeof out);
    printf("  tar+gzip:  %s (rc=%d)\n", out, r); fail |= r != 0;
    r = tar_roundtrip(2, out, sizeof out);
    printf("  tar+zstd:  %s (rc=%d)\n", out, r); fail |= r != 0;

    unsigned char md[EVP_MAX_MD_SIZE]; unsigned int mdlen = 0;
    EVP_Digest("abc", 3, md, &mdlen, EVP_sha256(), NULL);
    printf("openssl:     %s (sha256(abc)=%02x%02x%02x%02x...)\n", OpenSSL_version(0), md[0], md[1], md[2], md[3]);
    fail |= !(mdlen == 32 && md[0] == 0xba && md[1] == 0x78);

    printf("%s\n", fail ? "VERIFY FAILED" : "VERIFY OK");
    return fail;
}
EOF

say "verifying: static link of a test program against: $PCS"
CFLAGS_PC=$(pkg-config --static --cflags $PCS) || die "verification: pkg-config --cflags failed"
LIBS_PC=$(pkg-config --static --libs $PCS) || die "verification: pkg-config --libs failed"
LINK_CMD=("$CC_WIN" -O2 -o "$VER/verify.exe" "$VER/verify.c" $CFLAGS_PC -static $LIBS_PC)
printf '%q ' "${LINK_CMD[@]}" >"$LOGS/verify.log"; echo >>"$LOGS/verify.log"
"${LINK_CMD[@]}" >>"$LOGS/verify.log" 2>&1 || {
    tail -n 40 "$LOGS/verify.log" >&2
    die "verification: static link failed (log: $LOGS/verify.log)"
}

{
    echo "# Static link flags for wincrid.exe (x86_64-w64-mingw32, gcc-posix)"
    echo "# Verified by build-deps.sh; equivalent to:"
    echo "#   PKG_CONFIG_LIBDIR=$PREFIX/lib/pkgconfig pkg-config --static --cflags/--libs $PCS"
    echo "CC=$CC_WIN"
    echo "CFLAGS=$CFLAGS_PC"
    echo "LDFLAGS=-static"
    echo "LIBS=$LIBS_PC"
    echo "# Windows system libraries in the set above (from wincri-win32.pc):"
    echo "WIN_SYSLIBS=-lstdc++ -lwinpthread $WIN_SYSLIBS"
} >"$PREFIX/link-flags.txt"

export WINEPREFIX="$CACHE_ROOT/wineprefix"
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
if [[ ! -f $WINEPREFIX/system.reg ]]; then
    say "initialising wine prefix $WINEPREFIX (first start takes a while)"
    timeout 600 wineboot -i >>"$LOGS/verify.log" 2>&1 || warn "wineboot returned non-zero"
fi
say "running verify.exe under wine:"
set +e
WINE_OUT=$(cd "$VER" && timeout 300 wine ./verify.exe 2>>"$LOGS/verify.log")
WINE_RC=$?
set -e
wineserver -k >/dev/null 2>&1 || true
printf '%s\n' "$WINE_OUT" | tr -d '\r' | sed 's/^/    /'
printf '%s\n' "$WINE_OUT" | tr -d '\r' >"$PREFIX/verify-output.txt"
((WINE_RC == 0)) || die "verification: verify.exe failed under wine (exit $WINE_RC; log: $LOGS/verify.log)"

# ------------------------------------------------------------------ finish
{
    printf '# Debian source packages built into this prefix (built with %s)\n' "$($CC_WIN -dumpversion)"
    for p in "${PACKAGES[@]}"; do
        printf '%s %s\n' "$p" "$(cut -d' ' -f1 "$STAMPS/$p")"
    done
} >"$PREFIX/versions.txt"
rm -rf "$PREFIX/bin" "$PREFIX/cmake" "$PREFIX/share/doc" "$PREFIX/share/man" "$PREFIX"/lib/*.la
if [[ ${WINCRI_KEEP_WORK:-0} != 1 ]]; then
    rm -rf "$SRC" "$BLD"
fi
date -u +%Y-%m-%dT%H:%M:%SZ >"$PREFIX/.complete"
link_current
say "build times: $(for p in "${PACKAGES[@]}"; do printf '%s=%s ' "$p" "${PKG_TIME[$p]}"; done)"
say "win-deps complete in $(( $(date +%s) - T_START ))s; logs in $LOGS"
say "$PREFIX"
exit 0
}
