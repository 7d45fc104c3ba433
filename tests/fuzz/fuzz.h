/*  Shared by the fuzz harnesses (fuzz_<name>.c): a scratch directory under
 *  /dev/shm (fsync is cheap there) and a real server set up without sockets.
 *  Each harness defines LLVMFuzzerInitialize and LLVMFuzzerTestOneInput; they
 *  are linked either with libFuzzer (MNS_FUZZ) or with replay.c.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_FUZZ_H
#define MNS_FUZZ_H

#include <dlfcn.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log/log.h"
#include "server_lifecycle.h"
#include "util/util.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/** A harness invariant broke: report and abort (the fuzzer keeps the input). */
#define MNS_FUZZ_CHECK(cond, ...)                                                                  \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "%s:%d: check failed: %s: ", __FILE__, __LINE__, #cond);   \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

static char mns_fuzz_dir_path[64];

static void mns_fuzz_cleanup(void)
{
	if (mns_fuzz_dir_path[0] == '\0')
		return;
	char cmd[128];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", mns_fuzz_dir_path);
	if (system(cmd) != 0)
		fprintf(stderr, "cannot remove %s\n", mns_fuzz_dir_path);
	mns_fuzz_dir_path[0] = '\0';
}

/** \brief The process's scratch directory (made on first use, removed at exit). */
static inline const char *mns_fuzz_dir(void)
{
	if (mns_fuzz_dir_path[0] != '\0')
		return mns_fuzz_dir_path;
	const char *base = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : "/tmp";
	snprintf(mns_fuzz_dir_path, sizeof(mns_fuzz_dir_path), "%s/mns-fuzz-XXXXXX", base);
	if (mkdtemp(mns_fuzz_dir_path) == NULL) {
		perror("mkdtemp");
		abort();
	}
	atexit(mns_fuzz_cleanup);
	return mns_fuzz_dir_path;
}

/** \brief Writes \a len octets to \a dir/\a name; \a path gets the full name. */
static inline void mns_fuzz_write(const char *dir, const char *name, const void *data, size_t len,
                                  char *path, size_t path_size)
{
	int n = snprintf(path, path_size, "%s/%s", dir, name);
	FILE *f = n > 0 && (size_t)n < path_size ? fopen(path, "wb") : NULL;
	if (f == NULL || (len > 0 && fwrite(data, 1, len, f) != len) || fclose(f) != 0) {
		perror(path);
		abort();
	}
}

/** \brief Keeps the plugins mapped for the life of the process: libFuzzer
 *  holds on to the coverage counters of every module it saw, so a plugin
 *  unloaded when a harness restarts its server must not be unmapped. */
static inline void mns_fuzz_pin_plugins(void)
{
	static const char *const names[] = {"dkim", "spf", "mx", "dmarc", "verify"};
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		char path[512];
		snprintf(path, sizeof(path), "%s/%s.so", MNS_FUZZ_PLUGIN_DIR, names[i]);
		if (dlopen(path, RTLD_NOW | RTLD_LOCAL | RTLD_NODELETE) == NULL)
			fprintf(stderr, "%s\n", dlerror());
	}
}

/** \brief Starts \a s (no sockets) from \a conf_text, written to \a dir. */
static inline void mns_fuzz_server(mns_server_t *s, uv_loop_t *loop, const char *dir,
                                   const char *conf_text)
{
	static char conf_path[256];
	mns_fuzz_write(dir, "mailns.conf", conf_text, strlen(conf_text), conf_path,
	               sizeof(conf_path));
	memset(s, 0, sizeof(*s));
	s->conf_path = conf_path;
	uv_loop_init(loop);
	char err[1024] = "";
	if (mns_server_init(s, loop, err, sizeof(err)) != MNS_OK) {
		fprintf(stderr, "server init: %s\n", err);
		abort();
	}
}

#endif
