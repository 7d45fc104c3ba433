/*  The config parser: any file text is either a config (then the [xfr]
 *  section and the vendor identity derived from it are checked too) or an
 *  error that names a place. Never a crash or a leak.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "fuzz.h"
#include "xfr/xfr.h"
#include "xfr/xfr_internal.h"

static char g_path[256];

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	mns_log_set_level(MNS_LOG_ERR);
	(void)mns_fuzz_dir();
	return 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size > 64 * 1024)
		return -1;
	mns_fuzz_write(mns_fuzz_dir(), "fuzz.conf", data, size, g_path, sizeof(g_path));
	mns_conf_t *c = NULL;
	char err[1024] = "";
	int ret = mns_conf_load(g_path, NULL, &c, err, sizeof(err));
	if (ret != MNS_OK) {
		MNS_FUZZ_CHECK(err[0] != '\0', "an error without a message (%d)", ret);
		mns_conf_free(c);
		return 0;
	}
	MNS_FUZZ_CHECK(c != NULL, "MNS_OK without a config");
	MNS_FUZZ_CHECK(c->n_nameservers > 0 && c->hosted_zone != NULL, "config without vendor");
	json_t *vendor = mns_server_vendor_json(c);
	json_decref(vendor);
	json_t *x = NULL;
	if (mns_conf_section_json(c, "xfr", mns_xfr_schema, &x, err, sizeof(err)) == MNS_OK) {
		mns_xfr_conf_t xc;
		memset(&xc, 0, sizeof(xc));
		mns_error_t e = {0};
		(void)mns_xfr_conf_parse(x, &xc, &e);
		mns_xfr_conf_deinit(&xc);
	}
	json_decref(x);
	mns_conf_free(c);
	return 0;
}
