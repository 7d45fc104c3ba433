/*  SPDX-License-Identifier: GPL-3.0-or-later */
#include <time.h>

#include "util/util.h"

uint64_t mns_now_ms(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}
