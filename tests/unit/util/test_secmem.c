/*  Secret memory: the secure heap is left out of core dumps (VmFlags "dd"
 *  in /proc/self/smaps) and a freed secret is wiped.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mns_test.h"
#include <fcntl.h>
#include <inttypes.h>
#include <unistd.h>
#include "util/secmem.h"
#include "mailns/plugin.h"

/* The VmFlags line of the mapping holding \a addr, into \a out. */
static bool vmflags_of(const void *addr, char *out, size_t outlen)
{
	FILE *f = fopen("/proc/self/smaps", "r");
	assert_non_null(f);
	char line[512];
	bool inside = false, found = false;
	uintptr_t a = (uintptr_t)addr;
	while (fgets(line, sizeof(line), f) != NULL) {
		uintptr_t lo, hi;
		if (sscanf(line, "%" SCNxPTR "-%" SCNxPTR " ", &lo, &hi) == 2 && strchr(line, ':') != NULL &&
		    line[strspn(line, "0123456789abcdef")] == '-') {
			inside = a >= lo && a < hi;
			continue;
		}
		if (inside && strncmp(line, "VmFlags:", 8) == 0) {
			snprintf(out, outlen, "%s", line + 8);
			found = true;
			break;
		}
	}
	fclose(f);
	return found;
}

static bool has_flag(const char *flags, const char *flag)
{
	char padded[600], want[8];
	snprintf(padded, sizeof(padded), " %s ", flags);
	for (char *p = padded; *p; p++)
		if (*p == '\n')
			*p = ' ';
	snprintf(want, sizeof(want), " %s ", flag);
	return strstr(padded, want) != NULL;
}

/* Reads \a n octets at \a addr through /proc/self/mem: the kernel reads the
 * page, so looking at freed memory is no C access to a dead object. */
static void read_mem(const void *addr, unsigned char *out, size_t n)
{
	int fd = open("/proc/self/mem", O_RDONLY);
	assert_true(fd >= 0);
	assert_int_equal(pread(fd, out, n, (off_t)(uintptr_t)addr), (ssize_t)n);
	close(fd);
}

static void test_secret_heap_is_not_dumped_and_wiped(void **state)
{
	(void)state;
	assert_int_equal(mns_secret_init(64 << 10), MNS_OK);
	enum { N = 300 };
	unsigned char *p = mns_secret_alloc(N);
	assert_non_null(p);
	assert_true(mns_secret_is_secure(p));
	for (size_t i = 0; i < N; i++)
		assert_int_equal(p[i], 0); /* Zeroed. */

	char flags[512];
	assert_true(vmflags_of(p, flags, sizeof(flags)));
	assert_true(has_flag(flags, "dd"));
	/* The test tells the two apart: the ordinary heap is dumped. */
	char *plain = malloc(N);
	assert_non_null(plain);
	assert_true(vmflags_of(plain, flags, sizeof(flags)));
	assert_false(has_flag(flags, "dd"));
	assert_false(mns_secret_is_secure(plain));
	free(plain);

	memset(p, 0xA5, N);
	const void *addr = p;
	unsigned char after[N];
	read_mem(addr, after, N);
	assert_int_equal(after[0], 0xA5); /* read_mem sees what is there... */
	mns_secret_free(p, N);
	read_mem(addr, after, N); /* ...the heap stays mapped: the bytes are gone. */
	for (size_t i = 0; i < N; i++)
		assert_int_equal(after[i], 0);
	/* Still the same mapping, still left out of dumps. */
	assert_true(vmflags_of(addr, flags, sizeof(flags)));
	assert_true(has_flag(flags, "dd"));
}

static void test_full_heap_falls_back(void **state)
{
	(void)state;
	assert_int_equal(mns_secret_init(64 << 10), MNS_OK); /* Already set up: fine. */
	/* Larger than the whole heap: ordinary memory, still usable and freed. */
	unsigned char *big = mns_secret_alloc(128 << 10);
	assert_non_null(big);
	assert_false(mns_secret_is_secure(big));
	assert_int_equal(big[(128 << 10) - 1], 0);
	mns_secret_free(big, 128 << 10);
	mns_secret_free(NULL, 10);
	mns_secret_done();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_secret_heap_is_not_dumped_and_wiped),
		cmocka_unit_test(test_full_heap_falls_back),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
