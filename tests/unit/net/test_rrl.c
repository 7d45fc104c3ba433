/*  Response rate limiting: token buckets, slip, prefixes and classes, with
 *  the clock under the test's control.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <unistd.h>

#include "mns_test.h"
#include "net/rrl.h"

static struct sockaddr_storage v4(const char *text)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;
	sin->sin_family = AF_INET;
	assert_int_equal(inet_pton(AF_INET, text, &sin->sin_addr), 1);
	return ss;
}

static struct sockaddr_storage v6(const char *text)
{
	struct sockaddr_storage ss = {0};
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;
	sin6->sin6_family = AF_INET6;
	assert_int_equal(inet_pton(AF_INET6, text, &sin6->sin6_addr), 1);
	return ss;
}

static mns_rrl_t *make(uint32_t rate, uint32_t slip)
{
	mns_rrl_conf_t conf = {
	    .rate = rate, .slip = slip, .ipv4_prefix = 24, .ipv6_prefix = 56, .table_size = 1024};
	mns_rrl_t *rrl = mns_rrl_new(&conf);
	assert_non_null(rrl);
	return rrl;
}

/* Counts the actions of \a n responses at time \a now. */
static void run(mns_rrl_t *rrl, const struct sockaddr_storage *src, mns_rrl_class_t cls, int n,
                uint64_t now, int counts[3])
{
	for (int i = 0; i < n; i++)
		counts[mns_rrl_check(rrl, (const struct sockaddr *)src, cls, now)]++;
}

/* The number of \a n responses at time \a now that pass. */
static int passed(mns_rrl_t *rrl, const struct sockaddr_storage *src, mns_rrl_class_t cls, int n,
                  uint64_t now)
{
	int counts[3] = {0};
	run(rrl, src, cls, n, now, counts);
	return counts[MNS_RRL_PASS];
}

static void test_burst_then_limit(void **state)
{
	mns_rrl_t *rrl = make(10, 0);
	struct sockaddr_storage a = v4("192.0.2.7");
	int c[3] = {0};
	/* A full bucket: one second's worth passes at once, the rest is dropped. */
	run(rrl, &a, MNS_RRL_POSITIVE, 25, 1000, c);
	assert_int_equal(c[MNS_RRL_PASS], 10);
	assert_int_equal(c[MNS_RRL_DROP], 15);
	assert_int_equal(c[MNS_RRL_SLIP], 0);
	/* 100 ms refill one token at 10/s; 50 ms only half of one. */
	assert_int_equal(passed(rrl, &a, MNS_RRL_POSITIVE, 3, 1100), 1);
	assert_int_equal(passed(rrl, &a, MNS_RRL_POSITIVE, 1, 1150), 0);
	assert_int_equal(passed(rrl, &a, MNS_RRL_POSITIVE, 1, 1200), 1);
	/* A long pause refills to the burst and no further. */
	assert_int_equal(passed(rrl, &a, MNS_RRL_POSITIVE, 30, 60000), 10);
	mns_rrl_free(rrl);
}

static void test_steady_rate(void **state)
{
	mns_rrl_t *rrl = make(50, 0);
	struct sockaddr_storage a = v4("198.51.100.1");
	int c[3] = {0};
	/* 1000 queries per second for 5 s, one per millisecond: 50 burst + 50/s. */
	for (uint64_t t = 0; t < 5000; t++)
		run(rrl, &a, MNS_RRL_POSITIVE, 1, 10000 + t, c);
	assert_in_range(c[MNS_RRL_PASS], 50 + 5 * 50 - 2, 50 + 5 * 50);
	mns_rrl_free(rrl);
}

static void test_slip(void **state)
{
	struct sockaddr_storage a = v4("203.0.113.9");
	for (uint32_t slip = 0; slip <= 3; slip++) {
		mns_rrl_t *rrl = make(5, slip);
		int c[3] = {0};
		run(rrl, &a, MNS_RRL_NXDOMAIN, 5 + 60, 500, c);
		assert_int_equal(c[MNS_RRL_PASS], 5);
		/* slip 0: all dropped; 1: all truncated; N: every Nth truncated. */
		int want_slip = slip == 0 ? 0 : 60 / (int)slip;
		assert_int_equal(c[MNS_RRL_SLIP], want_slip);
		assert_int_equal(c[MNS_RRL_DROP], 60 - want_slip);
		mns_rrl_free(rrl);
	}
}

static void test_prefixes_and_classes(void **state)
{
	mns_rrl_t *rrl = make(3, 0);
	struct sockaddr_storage a1 = v4("192.0.2.1"), a2 = v4("192.0.2.200"), b = v4("192.0.3.1");
	int c[3] = {0};
	run(rrl, &a1, MNS_RRL_POSITIVE, 3, 100, c);
	assert_int_equal(c[MNS_RRL_PASS], 3);
	/* The same /24 shares the bucket; another /24 and another class do not. */
	memset(c, 0, sizeof(c));
	run(rrl, &a2, MNS_RRL_POSITIVE, 1, 100, c);
	assert_int_equal(c[MNS_RRL_DROP], 1);
	assert_int_equal(passed(rrl, &b, MNS_RRL_POSITIVE, 3, 100), 3);
	memset(c, 0, sizeof(c));
	run(rrl, &a1, MNS_RRL_NXDOMAIN, 3, 100, c);
	run(rrl, &a1, MNS_RRL_ERROR, 3, 100, c);
	assert_int_equal(c[MNS_RRL_PASS], 6);
	/* IPv6: one /56 shares, the next /56 does not. */
	struct sockaddr_storage x1 = v6("2001:db8:0:1::1"), x2 = v6("2001:db8:0:ff:ffff::2"),
	                        y = v6("2001:db8:0:100::1");
	memset(c, 0, sizeof(c));
	run(rrl, &x1, MNS_RRL_POSITIVE, 3, 100, c);
	run(rrl, &x2, MNS_RRL_POSITIVE, 1, 100, c);
	assert_int_equal(c[MNS_RRL_PASS], 3);
	assert_int_equal(c[MNS_RRL_DROP], 1);
	assert_int_equal(passed(rrl, &y, MNS_RRL_POSITIVE, 3, 100), 3);
	mns_rrl_free(rrl);
}

static void test_off(void **state)
{
	mns_rrl_t *rrl = make(0, 2);
	struct sockaddr_storage a = v4("192.0.2.1");
	int c[3] = {0};
	run(rrl, &a, MNS_RRL_POSITIVE, 10000, 5, c);
	assert_int_equal(c[MNS_RRL_PASS], 10000);
	mns_rrl_free(rrl);
	assert_int_equal(mns_rrl_check(NULL, (struct sockaddr *)&a, MNS_RRL_ERROR, 0),
	                 MNS_RRL_PASS);
}

/* Many prefixes in a small table: each is still limited (no bucket is
 * shared by two prefixes), and old buckets make room for new ones. */
static void test_small_table(void **state)
{
	mns_rrl_conf_t conf = {
	    .rate = 2, .slip = 0, .ipv4_prefix = 32, .ipv6_prefix = 128, .table_size = 16};
	mns_rrl_t *rrl = mns_rrl_new(&conf);
	for (int i = 0; i < 200; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.0.%d.%d", i / 256, i % 256);
		struct sockaddr_storage a = v4(text);
		int c[3] = {0};
		run(rrl, &a, MNS_RRL_POSITIVE, 5, 1000 + (uint64_t)i, c);
		assert_int_equal(c[MNS_RRL_PASS], 2);
		assert_int_equal(c[MNS_RRL_DROP], 3);
	}
	mns_rrl_free(rrl);
}

static void test_classify_and_truncate(void **state)
{
	/* id, flags QR AA RCODE, QD=1 AN=1 NS=0 AR=1, question example.com. TXT IN,
	 * then some answer octets. */
	uint8_t resp[] = {0x12, 0x34, 0x84, 0x00, 0,   1, 0,   1,   0,   0, 0, 1,  7,  'e', 'x',
	                  'a',  'm',  'p',  'l',  'e', 3, 'c', 'o', 'm', 0, 0, 16, 0,  1,   0xc0,
	                  12,   0,    16,   0,    1,   0, 0,   0,   60,  0, 2, 1,  'x'};
	assert_int_equal(mns_rrl_classify(resp, sizeof(resp)), MNS_RRL_POSITIVE);
	resp[3] = 3;
	assert_int_equal(mns_rrl_classify(resp, sizeof(resp)), MNS_RRL_NXDOMAIN);
	resp[3] = 5;
	assert_int_equal(mns_rrl_classify(resp, sizeof(resp)), MNS_RRL_ERROR);
	resp[3] = 0;
	resp[7] = 0;
	assert_int_equal(mns_rrl_classify(resp, sizeof(resp)), MNS_RRL_EMPTY);
	resp[7] = 1;
	assert_int_equal(mns_rrl_classify(resp, 5), MNS_RRL_ERROR);

	size_t n = mns_rrl_truncate(resp, sizeof(resp));
	assert_int_equal(n, 12 + 13 + 4);
	assert_true(resp[2] & 0x02);            /* TC */
	assert_int_equal(resp[2] & 0x80, 0x80); /* still QR */
	assert_int_equal(resp[5], 1);
	for (int i = 6; i < 12; i++)
		assert_int_equal(resp[i], 0);
	/* A question running past the end is refused, not read beyond. */
	uint8_t bad[] = {0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 60, 'a', 'b'};
	assert_int_equal(mns_rrl_truncate(bad, sizeof(bad)), 0);
	uint8_t shortq[] = {0, 0, 0x84, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 1};
	assert_int_equal(mns_rrl_truncate(shortq, sizeof(shortq)), 0);
	assert_int_equal(mns_rrl_truncate(shortq, 11), 0);
}

/* Runs \a fn with stderr going to a file; returns what was logged (malloc'd). */
static char *capture_log(void (*fn)(mns_rrl_t *), mns_rrl_t *rrl)
{
	FILE *tmp = tmpfile();
	assert_non_null(tmp);
	fflush(stderr);
	int saved = dup(2);
	assert_true(saved >= 0);
	assert_true(dup2(fileno(tmp), 2) >= 0);
	fn(rrl);
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	long n = ftell(tmp);
	char *text = calloc(1, (size_t)n + 1);
	rewind(tmp);
	assert_int_equal(fread(text, 1, (size_t)n, tmp), (size_t)n);
	fclose(tmp);
	return text;
}

static int count(const char *text, const char *what)
{
	int n = 0;
	for (const char *p = text; (p = strstr(p, what)) != NULL; p++)
		n++;
	return n;
}

static void limit_many(mns_rrl_t *rrl)
{
	int c[3] = {0};
	/* 40 prefixes start being limited within one second… */
	for (int i = 0; i < 40; i++) {
		char text[32];
		snprintf(text, sizeof(text), "10.%d.0.1", i);
		struct sockaddr_storage a = v4(text);
		run(rrl, &a, MNS_RRL_ERROR, 3, 5000, c);
	}
	/* …and one stops in the next: its line and the suppressed count. */
	struct sockaddr_storage a = v4("10.0.0.77");
	run(rrl, &a, MNS_RRL_ERROR, 1, 6500, c);
}

static void test_log_is_rate_limited(void **state)
{
	mns_rrl_t *rrl = make(1, 2);
	char *log = capture_log(limit_many, rrl);
	assert_int_equal(count(log, "limiting started"), 5);
	assert_int_equal(count(log, "rrl, 10.0.0.0/24 error responses, limiting started"), 1);
	assert_int_equal(count(log, "rrl, 35 more rate limiting messages suppressed"), 1);
	assert_int_equal(count(log, "rrl, 10.0.0.0/24 error responses, limiting stopped"), 1);
	free(log);
	mns_rrl_free(rrl);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_burst_then_limit),
	    cmocka_unit_test(test_steady_rate),
	    cmocka_unit_test(test_slip),
	    cmocka_unit_test(test_prefixes_and_classes),
	    cmocka_unit_test(test_off),
	    cmocka_unit_test(test_small_table),
	    cmocka_unit_test(test_classify_and_truncate),
	    cmocka_unit_test(test_log_is_rate_limited),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
