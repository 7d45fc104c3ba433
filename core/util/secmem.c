/*  Wipe-on-free for JSON: tenant documents carry private keys, and jansson
 *  copies strings freely; every block it frees is zeroed first.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <jansson.h>

#include "util/util.h"

static void *json_alloc(size_t n)
{
	return malloc(n);
}

static void json_wipe_free(void *p)
{
	if (p == NULL)
		return;
	explicit_bzero(p, malloc_usable_size(p));
	free(p);
}

void mns_json_secure_init(void)
{
	json_set_alloc_funcs(json_alloc, json_wipe_free);
}
