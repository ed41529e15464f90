#!/bin/bash
# The Debian packages of `make deb` (build/deb), on this machine: lintian, `apt-get install`, the
# programs and manual pages, the unit and its enablement, the system user and the directories;
# then the bridge set up and served as the unit runs it (its user, environment, working directory
# and umask, ExecStart read from the installed unit) with the packaged programs and images; then
# `apt-get purge` and what purge removes and keeps (debian/hsm-bridge.postrm says why), and a
# purge with nothing kept.
#
# Runs as root (it installs packages) and refuses to start if any of the packages, the hsm-bridge
# user or its directories are on the machine already: it would not know what to give back. On
# exit, passed or not, it purges what it installed and removes what the packages left (trap).
# One run at a time (a lock in /run/lock). Prints cmocka's summary lines so tests/run_tests.sh
# counts its checks. About two minutes here: lintian ~25 s, the bridge ~15 s, two installs and
# purges.
set -uo pipefail
cd "$(dirname "$(readlink -f "$0")")/../.."
DEB_DIR=${PV_DEB_DIR:-build/deb}
PKGS=(provision hsm-bridge provision-firmware libprovision1 libprovision-dev python3-libprovision)
UNIT=/lib/systemd/system/hsm-bridge.service
WANTS=/etc/systemd/system/multi-user.target.wants/hsm-bridge.service
DSH_STATE=/var/lib/systemd/deb-systemd-helper-enabled/hsm-bridge.service.dsh-also
ETC=/etc/hsm-bridge
DATA=/var/lib/hsm-bridge
APT=(apt-get -y -q -o DPkg::Lock::Timeout=300)
export DEBIAN_FRONTEND=noninteractive

passed=0 failed=0 failures=() installed=0 user_was_absent=0 last_rc=0
tmp=$(mktemp -d /tmp/test_deb.XXXXXX)

# check NAME FUNCTION: one check, cmocka's way, in a subshell under set -e: its first failing
# command fails it, and says why on stderr. The subshell is a statement of its own: in an `if`
# or an && / || list bash would ignore set -e inside it.
check() {
    local rc t0=$SECONDS
    echo "[ RUN      ] $1"
    (
        set -e
        "$2"
    ) >"$tmp/$1.log" 2>&1
    rc=$?
    last_rc=$rc
    if [ "$rc" = 0 ]; then
        echo "[       OK ] $1 ($((SECONDS - t0)) s)"
        passed=$((passed + 1))
    else
        cat "$tmp/$1.log"
        echo "[  FAILED  ] $1 ($((SECONDS - t0)) s)"
        failed=$((failed + 1))
        failures+=("$1")
    fi
}
fail() { echo "test_deb: $*" >&2; return 1; }
# expect WHAT GOT WANT
expect() { [ "$2" = "$3" ] || fail "$1: '$2', expected '$3'"; }

finish() {
    echo "[==========] $((passed + failed)) test(s) run."
    echo "[  PASSED  ] $passed test(s)."
    if [ "$failed" -gt 0 ]; then
        echo "[  FAILED  ] $failed test(s), listed below:"
        printf '[  FAILED  ] %s\n' "${failures[@]}"
    fi
}

# What the test put on the machine goes, whatever happened: the bridge it started, the packages
# (and any package the install pulled in), the directories purge keeps, the user, the override.
cleanup() {
    if [ "$installed" = 1 ]; then
        present=$(dpkg-query -W -f '${db:Status-Status} ${Package}\n' "${PKGS[@]}" 2>/dev/null |
            awk '$1 != "not-installed" {print $2}')
        # shellcheck disable=SC2086 # a list of package names
        [ -z "$present" ] || "${APT[@]}" purge $present >"$tmp/cleanup.log" 2>&1
        dpkg-query -W -f '${db:Status-Status} ${Package}\n' | awk '$1 == "installed" {print $2}' |
            sort >"$tmp/after"
        added=$(comm -13 "$tmp/before" "$tmp/after" | tr '\n' ' ')
        # shellcheck disable=SC2086 # a list of package names
        [ -z "${added// /}" ] || "${APT[@]}" purge $added >>"$tmp/cleanup.log" 2>&1
        rm -rf "$ETC" "$DATA"
        dpkg-statoverride --list "$ETC" >/dev/null 2>&1 && dpkg-statoverride --remove "$ETC"
        if [ "$user_was_absent" = 1 ] && getent passwd hsm-bridge >/dev/null; then
            deluser --system --quiet hsm-bridge >/dev/null 2>&1
        fi
        if [ "$user_was_absent" = 1 ] && getent group hsm-bridge >/dev/null; then
            delgroup --system --quiet hsm-bridge >/dev/null 2>&1
        fi
    fi
    rm -rf "$tmp"
    exec 9>&-
}
trap cleanup EXIT
trap 'exit 143' TERM INT # a timeout or ^C still gives everything back (through the EXIT trap)

version=$(sed -n '1s/^[^ ]* (\([^)]*\)).*/\1/p' debian/changelog)
arch=$(dpkg --print-architecture)
case $DEB_DIR in /*) ;; *) DEB_DIR=./$DEB_DIR ;; esac # apt-get takes a path, not a name
debs=("$DEB_DIR/provision_${version}_$arch.deb" "$DEB_DIR/hsm-bridge_${version}_$arch.deb"
      "$DEB_DIR/provision-firmware_${version}_all.deb" "$DEB_DIR/libprovision1_${version}_$arch.deb"
      "$DEB_DIR/libprovision-dev_${version}_$arch.deb"
      "$DEB_DIR/python3-libprovision_${version}_all.deb")
LIBDIR=/usr/lib/$(dpkg-architecture -qDEB_HOST_MULTIARCH)

preconditions() {
    local st
    [ "$(id -u)" = 0 ] || fail "run as root: it installs and purges packages"
    for d in "${debs[@]}" "$DEB_DIR/provision_$version.changes"; do
        [ -f "$d" ] || fail "$d is missing: run make deb"
    done
    for p in "${PKGS[@]}"; do
        st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
        [ -z "$st" ] || [ "$st" = not-installed ] ||
            fail "package $p is on this machine already ($st): this test would purge it, refusing"
    done
    ! getent passwd hsm-bridge >/dev/null || fail "user hsm-bridge exists already: refusing"
    ! getent group hsm-bridge >/dev/null || fail "group hsm-bridge exists already: refusing"
    for d in "$ETC" "$DATA" "$WANTS"; do
        [ ! -e "$d" ] || fail "$d exists already: refusing"
    done
}

# No error and no warning that debian/*.lintian-overrides does not explain.
lintian_clean() {
    local rc=0
    lintian --fail-on error,warning "$DEB_DIR/provision_$version.changes" >"$tmp/lintian.out" 2>&1 ||
        rc=$?
    cat "$tmp/lintian.out"
    [ "$rc" = 0 ] || fail "lintian: exit $rc"
    ! grep -E '^[EW]: ' "$tmp/lintian.out" || fail "lintian: errors or warnings above"
}

install_packages() {
    "${APT[@]}" install --no-install-recommends "${debs[@]}" ||
        fail "apt-get install: exit $?"
    for p in "${PKGS[@]}"; do
        expect "dpkg status of $p" "$(dpkg-query -W -f '${db:Status-Abbrev}${Version}' "$p")" \
            "ii $version"
    done
}

programs_run() {
    expect "provision --version" "$(provision --version)" "provision $version"
    expect "hsm-bridge --version" "$(hsm-bridge --version)" "hsm-bridge $version"
    expect "provision path" "$(command -v provision)" /usr/bin/provision
    expect "hsm-bridge path" "$(command -v hsm-bridge)" /usr/sbin/hsm-bridge
    provision --help >"$tmp/p.help" || fail "provision --help: exit $?"
    grep -q '^  run  ' "$tmp/p.help" || fail "provision --help: no 'run' command listed"
    hsm-bridge --help >"$tmp/b.help" || fail "hsm-bridge --help: exit $?"
    grep -q '^  serve  ' "$tmp/b.help" || fail "hsm-bridge --help: no 'serve' command listed"
    # The two programs and the library are the only ELF files: no test program, sim, tool or
    # device .elf went in.
    for p in "${PKGS[@]}"; do dpkg -L "$p"; done | sort -u >"$tmp/files"
    while read -r f; do
        [ -f "$f" ] && [ ! -L "$f" ] && [ "$(od -An -tx1 -N4 "$f" | tr -d ' \n')" = 7f454c46 ] &&
            echo "$f"
    done <"$tmp/files" >"$tmp/elf"
    expect "ELF files in the packages" "$(xargs <"$tmp/elf")" \
        "/usr/bin/provision $LIBDIR/libprovision.so.1 /usr/sbin/hsm-bridge"
    # Release build: no sanitizer runtime linked.
    ! ldd /usr/bin/provision /usr/sbin/hsm-bridge | grep -E 'lib(a|ub)san' ||
        fail "a packaged program links a sanitizer runtime"
    for m in /usr/share/man/man1/provision.1.gz /usr/share/man/man8/hsm-bridge.8.gz; do
        zcat "$m" >"$tmp/man"
        grep -q "^\.TH .* $version\"" "$tmp/man" || fail "$m: no header with version $version"
    done
    for f in stub.bin bootloader.bin app_v1.bin app_v2.bin; do
        [ -s "/usr/share/provision/firmware/$f" ] || fail "/usr/share/provision/firmware/$f missing"
    done
}

# libprovision as line software uses it: a C program built with the -dev package's header and
# link, and the Python binding (with Debian's python3, which the package depends on), both on the
# installed library.
library_used() {
    cat >"$tmp/api.c" <<'C'
#include <libprovision.h>
#include <stdio.h>
int main(void) {
    unsigned v = pv_prov_version();
    printf("%u.%u\n", v >> 16, v & 0xffffu);
    return v == PV_PROV_VERSION ? 0 : 1;
}
C
    cc -Wall -Werror "$tmp/api.c" -lprovision -o "$tmp/api"
    # (readlink: /lib is /usr/lib on a merged-/usr system)
    expect "the C program's libprovision" \
        "$(readlink -f "$(ldd "$tmp/api" | awk '/libprovision/ {print $3}')")" \
        "$LIBDIR/libprovision.so.1"
    "$tmp/api" >"$tmp/api.out" || fail "header and library disagree: $(cat "$tmp/api.out")"
    (cd / && env -u LIBPROVISION -u PYTHONPATH /usr/bin/python3 -c 'import libprovision as p
l = p.load()
print(p.__file__, l._name, l.pv_prov_version() >> 16)') >"$tmp/py.out"
    expect "python3: module, library, API" "$(cat "$tmp/py.out")" \
        "/usr/lib/python3/dist-packages/libprovision.py libprovision.so.1 1"
    [ -f /usr/share/doc/python3-libprovision/examples/example_line.py ] ||
        fail "the example line script is missing"
}

unit_enabled() {
    [ -f "$UNIT" ] || fail "$UNIT missing"
    grep -qx 'ExecStart=/usr/sbin/hsm-bridge serve --config /etc/hsm-bridge/bridge.yaml' "$UNIT" ||
        fail "$UNIT: ExecStart is not the packaged program"
    expect "$WANTS" "$(readlink "$WANTS")" "$UNIT"
    expect "systemctl is-enabled hsm-bridge" "$(systemctl is-enabled hsm-bridge.service 2>&1)" enabled
    [ -f "$DSH_STATE" ] || fail "$DSH_STATE missing: deb-systemd-helper did not enable the unit"
    systemd-analyze verify "$UNIT" >"$tmp/verify" 2>&1 || fail "systemd-analyze verify: $(cat "$tmp/verify")"
    [ ! -s "$tmp/verify" ] || fail "systemd-analyze verify: $(cat "$tmp/verify")"
    # The confinement, scored: exposure 1.4 of 10 ("OK") now; above 2.0 fails (the scale's 20).
    systemd-analyze security --offline=yes --threshold=20 "$UNIT" >"$tmp/security" 2>&1 ||
        fail "systemd-analyze security: $(tail -1 "$tmp/security")"
    grep 'Overall exposure' "$tmp/security" >&2
    # Not started at installation (no configuration yet; nor is systemd running here), but
    # stopped at removal and restarted after an upgrade if it runs.
    grep -q "deb-systemd-invoke stop hsm-bridge.service" /var/lib/dpkg/info/hsm-bridge.prerm ||
        fail "hsm-bridge.prerm does not stop the service"
    grep -q "deb-systemd-invoke try-restart 'hsm-bridge.service'" \
        /var/lib/dpkg/info/hsm-bridge.postinst || fail "hsm-bridge.postinst does not restart it"
    ! grep -E "deb-systemd-invoke (start|restart) " /var/lib/dpkg/info/hsm-bridge.postinst ||
        fail "hsm-bridge.postinst starts the service before it is configured"
    dpkg-query -W -f '${Conffiles}\n' hsm-bridge >"$tmp/conffiles"
    for f in bridge.yaml softhsm2.conf; do
        grep -q " $ETC/$f " "$tmp/conffiles" || fail "$ETC/$f is not a conffile"
    done
}

user_and_dirs() {
    IFS=: read -r _ _ uid _ _ home shell < <(getent passwd hsm-bridge) || fail "no user hsm-bridge"
    [ "$uid" -lt 1000 ] || fail "hsm-bridge: uid $uid is not a system uid"
    expect "hsm-bridge's home" "$home" "$DATA"
    expect "hsm-bridge's shell" "$shell" /usr/sbin/nologin
    expect "$DATA" "$(stat -c '%U:%G %a' "$DATA")" "hsm-bridge:hsm-bridge 700"
    expect "$DATA/tokens" "$(stat -c '%U:%G %a' "$DATA/tokens")" "hsm-bridge:hsm-bridge 700"
    expect "$ETC" "$(stat -c '%U:%G %a' "$ETC")" "root:hsm-bridge 750"
    expect "$ETC/softhsm2.conf's token dir" \
        "$(sed -n 's/^directories.tokendir *= *//p' "$ETC/softhsm2.conf")" "$DATA/tokens"
}

# as_service CMD...: CMD as the unit runs its program: its user, Environment=, WorkingDirectory=,
# UMask= (read from the installed unit), NoNewPrivileges, nothing from this shell's environment.
# It execs: call it in a subshell.
as_service() {
    local envs
    envs=$(sed -n 's/^Environment=//p' "$UNIT")
    cd "$(sed -n 's/^WorkingDirectory=//p' "$UNIT")"
    umask "$(sed -n 's/^UMask=//p' "$UNIT")"
    # shellcheck disable=SC2086 # one NAME=VALUE per word
    exec setpriv --reuid hsm-bridge --regid hsm-bridge --clear-groups --no-new-privs \
        env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin $envs "$@"
}

# The operator's set-up (debian/conf/bridge.yaml's steps) in miniature, with the packaged programs
# and images: a token in the data directory, the bridge's own files in /etc/hsm-bridge, then the
# unit's ExecStart serving until /healthz answers and SIGTERM ends it with exit 0.
bridge_serves() {
    local d=$DATA r=$ETC/recipes/demo.yaml fw=/usr/share/provision/firmware exec_start url rc=0
    serve_pid=""
    trap '[ -z "$serve_pid" ] || kill "$serve_pid" 2>/dev/null' EXIT
    mkdir -p "$ETC/recipes"
    cp recipes/openocd/sim-remote-bitbang.cfg "$ETC/recipes/"
    sed -e "s|image: ../build/arm/stub-loader/stub.bin|image: $fw/stub.bin|" \
        -e "s|image: ../build/arm/firmware/bootloader.bin|image: $d/bootloader.sealed|" \
        -e "s|image: ../build/arm/firmware/app_v1.img|image: $d/app.sealed|" \
        -e "s|interface: ./openocd/|interface: ./|" recipes/demo-stm32f427.yaml >"$r"
    echo 2468 >"$ETC/pin" && echo 13579246 >"$ETC/so-pin"
    chown hsm-bridge: "$ETC/pin" "$ETC/so-pin" && chmod 600 "$ETC/pin" "$ETC/so-pin"
    (as_service provision keys init --recipe "$r" --pin-file "$ETC/pin" --so-pin-file "$ETC/so-pin")
    [ -n "$(find "$d/tokens" -mindepth 1 -maxdepth 1 -type d)" ] || fail "no token in $d/tokens"
    [ -z "$(find "$d/tokens" ! -user hsm-bridge)" ] || fail "token files not owned by hsm-bridge"
    (as_service provision keys seal --recipe "$r" --pin-file "$ETC/pin" "$fw/bootloader.bin" \
        "$d/bootloader.sealed")
    # The packaged demo application, signed by the token's key as a product owner does.
    (as_service provision image sign --pin-file "$ETC/pin" --in "$fw/app_v1.bin" --out "$d/app.img" \
        --image-version 1.0.0 --pkcs11 --token provision-demo --key-label image-signing)
    provision image info "$d/app.img" >"$tmp/info"
    grep -q '1\.0\.0' "$tmp/info" || fail "app.img: version 1.0.0 not shown: $(cat "$tmp/info")"
    (as_service provision keys seal --recipe "$r" --pin-file "$ETC/pin" "$d/app.img" "$d/app.sealed")
    cat >"$ETC/bridge.yaml" <<CONF
listen: 127.0.0.1:0
tls: {cert: bridge.crt, key: bridge.key, station_ca: $d/station-ca.crt}
token: {pin_file: pin}
ledger: $d/ledger.db
products: [$r]
CONF
    (as_service hsm-bridge ca init --config "$ETC/bridge.yaml")
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$ETC/bridge.key" \
        -subj /CN=bridge -out "$tmp/bridge.csr" 2>/dev/null || fail "openssl req: exit $?"
    chown hsm-bridge: "$ETC/bridge.key" && chmod 600 "$ETC/bridge.key"
    chmod 644 "$tmp/bridge.csr" && chmod 755 "$tmp"
    (as_service hsm-bridge tls-cert --config "$ETC/bridge.yaml" --csr "$tmp/bridge.csr" \
        --san 127.0.0.1 -o "$d/bridge.crt")
    mv "$d/bridge.crt" "$ETC/bridge.crt"
    exec_start=$(sed -n 's/^ExecStart=//p' "$UNIT")
    # shellcheck disable=SC2086 # ExecStart is a command line
    (as_service $exec_start) 2>"$tmp/serve.log" &
    serve_pid=$!
    for _ in $(seq 300); do
        grep -q 'listening on' "$tmp/serve.log" && break
        kill -0 "$serve_pid" 2>/dev/null || break
        sleep 0.1
    done
    url=$(sed -n 's/.*listening on \(https:\/\/[0-9.]*:[0-9]*\).*/\1/p' "$tmp/serve.log" | head -1)
    [ -n "$url" ] || fail "hsm-bridge serve did not start: $(cat "$tmp/serve.log")"
    curl -sS --cacert "$d/station-ca.crt" "$url/healthz" >"$tmp/healthz" ||
        fail "GET $url/healthz: curl exit $?"
    kill -TERM "$serve_pid"
    wait "$serve_pid" || rc=$?
    serve_pid=""
    expect "hsm-bridge serve's exit after SIGTERM" "$rc" 0
    [ -s "$d/ledger.db" ] || fail "no ledger in $d"
}

# Purge: the packaged files, the conffiles, the unit's enablement and the directory override go;
# the token, the ledger and the files the operator added stay, with the user that owns them, and
# postrm says so.
purge_packages() {
    "${APT[@]}" purge "${PKGS[@]}" >"$tmp/purge.out" 2>&1 || { cat "$tmp/purge.out"; fail "purge: exit $?"; }
    cat "$tmp/purge.out"
    for p in "${PKGS[@]}"; do
        # Purged: not-installed, or forgotten altogether.
        st=$(dpkg-query -W -f '${db:Status-Status}' "$p" 2>/dev/null || true)
        [ -z "$st" ] || [ "$st" = not-installed ] || fail "$p after purge: dpkg status '$st'"
    done
    for f in /usr/bin/provision /usr/sbin/hsm-bridge "$LIBDIR/libprovision.so.1" \
        /usr/include/libprovision.h /usr/lib/python3/dist-packages/libprovision.py \
        "$UNIT" "$WANTS" "$ETC/bridge.yaml" \
        "$ETC/softhsm2.conf" /usr/share/provision "$DSH_STATE"; do
        [ ! -e "$f" ] || fail "$f is still there after purge"
    done
    ! dpkg-statoverride --list "$ETC" | grep . || fail "the statoverride of $ETC is still there"
    [ -f "$DATA/ledger.db" ] || fail "purge removed the ledger"
    [ -n "$(find "$DATA/tokens" -mindepth 1 -maxdepth 1 -type d)" ] || fail "purge removed the token"
    [ -f "$ETC/bridge.key" ] || fail "purge removed the operator's $ETC/bridge.key"
    grep -q "kept $DATA" "$tmp/purge.out" || fail "postrm did not say it kept $DATA"
    getent passwd hsm-bridge >/dev/null || fail "purge removed the user that owns $DATA"
}

# With nothing of the bridge's own in them, purge removes the directories and the user too. The
# first purge's leftovers go first (as an administrator would, once backed up).
purge_leaves_nothing() {
    rm -rf "$ETC" "$DATA"
    deluser --system --quiet hsm-bridge
    "${APT[@]}" install --no-install-recommends "${debs[1]}" >"$tmp/install2.out" 2>&1 ||
        { cat "$tmp/install2.out"; fail "apt-get install hsm-bridge: exit $?"; }
    "${APT[@]}" purge hsm-bridge >"$tmp/purge2.out" 2>&1 ||
        { cat "$tmp/purge2.out"; fail "apt-get purge hsm-bridge: exit $?"; }
    for f in "$ETC" "$DATA" "$WANTS" "$DSH_STATE"; do
        [ ! -e "$f" ] || fail "$f is still there after purge"
    done
    ! getent passwd hsm-bridge || fail "purge left the user hsm-bridge, which owned nothing"
    ! getent group hsm-bridge || fail "purge left the group hsm-bridge"
    ! grep kept "$tmp/purge2.out" || fail "postrm said it kept something"
}

start=$(date +%s)
exec 9>/run/lock/provision-test-deb.lock
if ! flock -w 600 9; then
    echo "test_deb: another run held /run/lock/provision-test-deb.lock for 600 s"
    echo "[  FAILED  ] 1 test(s), listed below:"
    exit 1
fi
check preconditions preconditions
if [ "$last_rc" = 0 ]; then
    user_was_absent=1
    dpkg-query -W -f '${db:Status-Status} ${Package}\n' | awk '$1 == "installed" {print $2}' |
        sort >"$tmp/before"
    check lintian lintian_clean
    installed=1
    check install install_packages
    if [ "$last_rc" = 0 ]; then
        check programs programs_run
        check library library_used
        check unit unit_enabled
        check user_and_dirs user_and_dirs
        check bridge_serves_as_the_unit bridge_serves
        check purge purge_packages
        check purge_leaves_nothing purge_leaves_nothing
    fi
fi
echo "test_deb: $(($(date +%s) - start)) s"
finish
[ "$failed" = 0 ]
