/*  Static zones: loading zone files with libzscanner.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "zone/zone.h"

/* Writes \a text to a new file under /tmp; returns its path (static buffer). */
static const char *write_temp(const char *text)
{
	static char path[64];
	snprintf(path, sizeof(path), "/tmp/mns-test-zone-XXXXXX");
	int fd = mkstemp(path);
	assert_true(fd >= 0);
	size_t len = strlen(text);
	assert_int_equal(write(fd, text, len), (ssize_t)len);
	close(fd);
	return path;
}

static const mns_node_t *find(const mns_zone_t *z, const char *name)
{
	knot_dname_storage_t w;
	assert_non_null(knot_dname_from_str(w, name, sizeof(w)));
	knot_dname_to_lower(w);
	return mns_zone_find(z, w);
}

static const char good_zone[] = "$TTL 3600\n"
                                "@\tIN\tSOA\tns1 hostmaster 2024050501 7200 3600 1209600 300\n"
                                "@\t\tNS\tns1\n"
                                "@\t\tNS\tNS2.Vendor.Example.\n"
                                "ns1\t600\tA\t192.0.2.1\n"
                                "NS2\t\tA\t192.0.2.2\n"
                                "mx.deep\t\tMX\t10 ns1\n"
                                "txt\t\tTXT\t\"hello\" \"world\"\n";

static void test_load_ok(void **state)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	const char *path = write_temp(good_zone);
	int ret = mns_zone_load_file(path, "Vendor.Example", &z, &err);
	unlink(path);
	if (ret != MNS_OK)
		fail_msg("%s: %s", err.code, err.message);
	assert_non_null(z);
	assert_int_equal(z->kind, MNS_ZONE_STATIC);
	assert_int_equal(z->serial, 2024050501);
	assert_non_null(z->soa);
	assert_true(knot_dname_is_equal(z->apex, (const knot_dname_t *)"\006vendor\007example"));

	const knot_rrset_t *ns = mns_node_rrset(&z->nodes[0], KNOT_RRTYPE_NS);
	assert_non_null(ns);
	assert_int_equal(ns->rrs.count, 2);
	assert_int_equal(ns->ttl, 3600);
	/* NS2 is stored lowercase, in the owner and in the NS RDATA. */
	const mns_node_t *ns2 = find(z, "ns2.vendor.example");
	assert_non_null(ns2);
	assert_true(
	    knot_dname_is_equal(ns2->owner, (const knot_dname_t *)"\003ns2\006vendor\007example"));
	bool found = false;
	knot_rdata_t *rd = ns->rrs.rdata;
	for (uint16_t i = 0; i < ns->rrs.count; i++, rd = knot_rdataset_next(rd))
		found |= knot_dname_is_equal(knot_ns_name(rd),
		                             (const knot_dname_t *)"\003ns2\006vendor\007example");
	assert_true(found);
	const knot_rrset_t *a = mns_node_rrset(find(z, "ns1.vendor.example"), KNOT_RRTYPE_A);
	assert_non_null(a);
	assert_int_equal(a->ttl, 600);
	assert_memory_equal(a->rrs.rdata->data, "\xc0\x00\x02\x01", 4);
	/* deep is an empty non-terminal. */
	assert_int_equal(find(z, "deep.vendor.example")->n_rrsets, 0);
	assert_non_null(mns_node_rrset(find(z, "mx.deep.vendor.example"), KNOT_RRTYPE_MX));
	const knot_rrset_t *txt = mns_node_rrset(find(z, "txt.vendor.example"), KNOT_RRTYPE_TXT);
	assert_int_equal(txt->rrs.rdata->len, 12);
	mns_zone_free(z);
}

/* Loading \a text as \a origin fails with \a code, the message starting
 * "<file>:<line>: " and containing \a needle (when not NULL). */
static void expect_load_error(const char *text, const char *origin, int line, const char *code,
                              const char *needle)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	const char *path = write_temp(text);
	char expect[128];
	snprintf(expect, sizeof(expect), "%s:%d: ", path, line);
	assert_int_not_equal(mns_zone_load_file(path, origin, &z, &err), MNS_OK);
	unlink(path);
	assert_null(z);
	assert_string_equal(err.code, code);
	if (strncmp(err.message, expect, strlen(expect)) != 0)
		fail_msg("unexpected message: %s", err.message);
	if (needle != NULL)
		assert_non_null(strstr(err.message, needle));
}

static void test_syntax_error_line(void **state)
{
	expect_load_error("$TTL 300\n"
	                  "@ SOA ns1 hm 1 2 3 4 5\n"
	                  "\n"
	                  "www A 192.0.2.1\n"
	                  "bad A 300.1.1.1\n"
	                  "ok A 192.0.2.2\n",
	                  "example.org", 5, "zone_file", "invalid IPv4 address");
}

static void test_generic_rdata_checked(void **state)
{
	/* RFC 3597 syntax for a known type must still be that type's RDATA
	 * (a fuzzer found "TYPE1 \\# 3 010203" loaded, served and unprintable). */
	expect_load_error("$TTL 300\n"
	                  "@ SOA ns1 hm 1 2 3 4 5\n"
	                  "ok TYPE1 \\# 4 c0000201\n"
	                  "bad TYPE1 \\# 3 010203\n",
	                  "example.org", 4, "zone_file", "not a valid A record");

	/* Unknown types stay opaque; a well-formed generic A loads. */
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	const char *path = write_temp("$TTL 300\n"
	                  "@ SOA ns1 hm 1 2 3 4 5\n"
	                  "ok TYPE1 \\# 4 c0000201\n"
	                  "x TYPE65280 \\# 3 010203\n");
	assert_int_equal(mns_zone_load_file(path, "example.org", &z, &err), MNS_OK);
	unlink(path);
	assert_non_null(z);
	const knot_rrset_t *opaque = mns_node_rrset(find(z, "x.example.org"), 65280);
	assert_non_null(opaque);
	assert_int_equal(opaque->rrs.rdata->len, 3);
	assert_non_null(mns_node_rrset(find(z, "ok.example.org"), KNOT_RRTYPE_A));
	mns_zone_free(z);
}

static void test_out_of_zone(void **state)
{
	expect_load_error("@ 300 SOA ns1 hm 1 2 3 4 5\n"
	                  "www 300 A 192.0.2.1\n"
	                  "www.example.net. 300 A 192.0.2.1\n",
	                  "example.org.", 3, "out_of_zone", NULL);
}

static void test_missing_soa_and_file(void **state)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	const char *path = write_temp("www 300 A 192.0.2.1\n");
	assert_int_not_equal(mns_zone_load_file(path, "example.org", &z, &err), MNS_OK);
	unlink(path);
	assert_null(z);
	assert_string_equal(err.code, "missing_soa");
	assert_non_null(strstr(err.message, path));

	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zone_load_file("/nonexistent/mns.zone", "example.org", &z, &err),
	                     MNS_OK);
	assert_string_equal(err.code, "zone_file");
	assert_non_null(strstr(err.message, "/nonexistent/mns.zone"));

	memset(&err, 0, sizeof(err));
	assert_int_not_equal(mns_zone_load_file("/nonexistent/mns.zone", "bad..origin", &z, &err),
	                     MNS_OK);
	assert_string_equal(err.code, "invalid_name");
}

static void test_clash_cname_in_file(void **state)
{
	mns_error_t err = {0};
	mns_zone_t *z = NULL;
	const char *path = write_temp("@ 300 SOA ns1 hm 1 2 3 4 5\n"
	                              "www 300 CNAME host\n"
	                              "www 300 A 192.0.2.1\n");
	assert_int_not_equal(mns_zone_load_file(path, "example.org", &z, &err), MNS_OK);
	unlink(path);
	assert_null(z);
	assert_string_equal(err.code, "cname_conflict");
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_load_ok),
	    cmocka_unit_test(test_syntax_error_line),
	    cmocka_unit_test(test_generic_rdata_checked),
	    cmocka_unit_test(test_out_of_zone),
	    cmocka_unit_test(test_missing_soa_and_file),
	    cmocka_unit_test(test_clash_cname_in_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}
