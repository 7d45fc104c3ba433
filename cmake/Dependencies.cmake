# Every dependency is found with pkg-config. A missing one stops the build with
# the name of the Debian package that provides it.
find_package(PkgConfig)
if(NOT PKG_CONFIG_FOUND)
	message(FATAL_ERROR "pkg-config not found: apt-get install pkg-config")
endif()

function(mns_require var module debian_package)
	pkg_check_modules(${var} QUIET IMPORTED_TARGET ${module})
	if(NOT ${var}_FOUND)
		message(FATAL_ERROR "${module} not found (pkg-config): apt-get install ${debian_package}")
	endif()
endfunction()

mns_require(KNOT     libknot        libknot-dev)
mns_require(DNSSEC   libdnssec      libknot-dev)
mns_require(ZSCANNER libzscanner    libknot-dev)
mns_require(UV       libuv          libuv1-dev)
mns_require(JANSSON  jansson        libjansson-dev)
mns_require(CRYPTO   libcrypto      libssl-dev)
mns_require(LMDB     lmdb           liblmdb-dev)
mns_require(URCU     liburcu-memb   liburcu-dev)
mns_require(URCUCDS  liburcu-cds    liburcu-dev)
mns_require(IDN2     libidn2        libidn2-dev)
mns_require(CARES    libcares       libc-ares-dev)
# sd_notify(3): readiness, reload and stop notifications under systemd Type=notify.
mns_require(SYSTEMD  libsystemd     libsystemd-dev)
# Prometheus metrics endpoint (HTTP parsing is libmicrohttpd's, not ours).
mns_require(MHD      libmicrohttpd  libmicrohttpd-dev)
if(MNS_TESTS)
	mns_require(CMOCKA cmocka libcmocka-dev)
endif()

# The manual pages are written in scdoc.
find_program(SCDOC scdoc)
if(NOT SCDOC)
	message(FATAL_ERROR "scdoc not found (builds the manual pages): apt-get install scdoc")
endif()
