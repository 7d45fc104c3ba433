#!/usr/bin/env bash
# Debian 12 packages mailns needs; sourced by tools/demo and tools/check.
# mns_install_packages PKG... installs the missing ones with apt-get (as root).
MNS_BUILD_PACKAGES="cmake make gcc pkg-config libknot-dev libuv1-dev libjansson-dev libssl-dev
 liblmdb-dev liburcu-dev libidn2-dev libc-ares-dev libsystemd-dev scdoc libmicrohttpd-dev"
MNS_RUN_PACKAGES="bind9-dnsutils"
# clang + libclang-rt-14-dev (libFuzzer, ASan and UBSan runtimes for clang 14):
# the fuzz pass of tools/check.
MNS_TEST_PACKAGES="libcmocka-dev knot-dnsutils bind9-dnsutils curl python3 python3-dnspython
 python3-dkim python3-spf
 valgrind knot unbound bind9 nsd systemd libcap2-bin
 clang libclang-rt-14-dev"
# tools/bench only (not part of tools/check): dnsperf drives the load, knotd
# is the reference server, taskset (util-linux) pins servers and client.
MNS_BENCH_PACKAGES="dnsperf knot knot-dnsutils python3 python3-dnspython openssl util-linux"

# scdoc builds the manual pages (doc/man/*.scd); libmicrohttpd serves /metrics.

mns_install_packages() {
	local missing=()
	for p in "$@"; do
		dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
			missing+=("$p")
	done
	[ ${#missing[@]} -eq 0 ] && return 0
	echo "Installing: ${missing[*]}"
	local sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}
