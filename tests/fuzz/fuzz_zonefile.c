/*  The static zone loader (core/zone/static.c): any zone file text is either
 *  a zone (then it is dumped, as tenant.records would) or an error naming the
 *  file. $INCLUDE inputs are skipped: including any file the operator names
 *  (/dev/zero too) is the operator's choice, not an input to harden.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <strings.h>

#include "fuzz.h"

static char g_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mns_log_set_level(MNS_LOG_ERR);
	(void)mns_fuzz_dir();
	return 0;
}

static bool has_include(const uint8_t *data, size_t size)
{
	static const char word[] = "$include";
	for (size_t i = 0; i + sizeof(word) - 1 <= size; i++)
		if (data[i] == '$' &&
		    strncasecmp((const char *)data + i, word, sizeof(word) - 1) == 0)
			return true;
	return false;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024 || has_include(data, size))
		return -1;
	mns_fuzz_write(mns_fuzz_dir(), "vendor.example.zone", data, size, g_path, sizeof(g_path));
	mns_zone_t *z = NULL;
	mns_error_t err = {0};
	int ret = mns_zone_load_file(g_path, "vendor.example", &z, &err);
	if (ret != MNS_OK) {
		MNS_FUZZ_CHECK(z == NULL, "a zone and an error");
		MNS_FUZZ_CHECK(err.code[0] != '\0' && err.message[0] != '\0',
		               "error %d undescribed", ret);
		return 0;
	}
	MNS_FUZZ_CHECK(z != NULL && z->soa != NULL, "loaded without an SOA");
	json_t *j = NULL;
	char *text = NULL;
	MNS_FUZZ_CHECK(mns_zone_dump(z, &j, &text) == MNS_OK, "dump");
	json_decref(j);
	free(text);
	mns_zone_free(z);
	return 0;
}
