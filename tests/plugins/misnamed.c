/*  A plugin whose descriptor names another plugin: must be refused.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include "mailns/plugin.h"

MNS_PLUGIN(misnamed) = {
	.abi_major = MNS_PLUGIN_ABI_MAJOR,
	.abi_minor = MNS_PLUGIN_ABI_MINOR,
	.struct_size = sizeof(mns_plugin_api_t),
	.name = "dkim",
};
