/*  A plugin built for another ABI major version: must be refused at load.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mailns/plugin.h"

MNS_PLUGIN(abi_bad) = {
	.abi_major = MNS_PLUGIN_ABI_MAJOR + 1,
	.abi_minor = 0,
	.struct_size = sizeof(mns_plugin_api_t),
	.name = "abi_bad",
};
