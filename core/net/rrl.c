/*  Response rate limiting: see rrl.h.
 *
 *  The table is open addressing without chaining: a key looks at
 *  RRL_PROBES consecutive slots and, when none holds it, takes an empty one
 *  or the one refilled longest ago. Keys are a seeded hash of the masked
 *  source address and the response class, so an outsider cannot aim many
 *  prefixes at one slot to reset a limited bucket.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>

#include "log/log.h"
#include "net/rrl.h"

#define RRL_PROBES 4
/* Tokens are counted in thousandths of a response, so that a bucket refills
 * smoothly by the millisecond: rate per second = rate thousandths per ms. */
#define RRL_UNIT 1000u
/* Start/stop lines logged per second at most; the rest are counted. */
#define RRL_LOG_PER_SECOND 5

typedef struct rrl_bucket {
	uint64_t key; /* 0: empty. */
	uint64_t refill_ms;
	uint32_t tokens;
	uint32_t slipped; /* Limited responses since limiting started. */
	uint8_t limited;
} rrl_bucket_t;

struct mns_rrl {
	mns_rrl_conf_t conf;
	uint64_t seed;
	size_t mask;
	uint64_t log_second;
	unsigned log_lines, log_suppressed;
	rrl_bucket_t table[];
};

static const char *const class_names[MNS_RRL_N_CLASSES] = {"positive", "empty", "nxdomain",
                                                           "error"};

mns_rrl_t *mns_rrl_new(const mns_rrl_conf_t *conf)
{
	size_t n = 16;
	while (n < conf->table_size && n < ((size_t)1 << 30))
		n <<= 1;
	mns_rrl_t *rrl = calloc(1, sizeof(*rrl) + n * sizeof(rrl_bucket_t));
	if (rrl == NULL)
		return NULL;
	rrl->conf = *conf;
	rrl->mask = n - 1;
	if (getrandom(&rrl->seed, sizeof(rrl->seed), 0) != (ssize_t)sizeof(rrl->seed))
		rrl->seed = (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ull ^ (uint64_t)(uintptr_t)rrl;
	return rrl;
}

void mns_rrl_free(mns_rrl_t *rrl)
{
	free(rrl);
}

const mns_rrl_conf_t *mns_rrl_conf(const mns_rrl_t *rrl)
{
	return &rrl->conf;
}

mns_rrl_class_t mns_rrl_classify(const uint8_t *resp, size_t len)
{
	if (len < 12)
		return MNS_RRL_ERROR;
	unsigned rcode = resp[3] & 0x0f;
	unsigned ancount = (unsigned)resp[6] << 8 | resp[7];
	if (rcode == 3)
		return MNS_RRL_NXDOMAIN;
	if (rcode != 0)
		return MNS_RRL_ERROR;
	return ancount > 0 ? MNS_RRL_POSITIVE : MNS_RRL_EMPTY;
}

/* The finaliser of splitmix64: every input bit affects every output bit. */
static uint64_t mix(uint64_t h)
{
	h ^= h >> 30;
	h *= 0xbf58476d1ce4e5b9ull;
	h ^= h >> 27;
	h *= 0x94d049bb133111ebull;
	h ^= h >> 31;
	return h;
}

/* Keeps the first \a bits of \a addr (\a n octets), clears the rest. */
static void mask_prefix(uint8_t *addr, size_t n, unsigned bits)
{
	for (size_t i = 0; i < n; i++) {
		unsigned keep = bits >= 8 ? 8 : bits;
		addr[i] &= (uint8_t)(0xff00u >> keep);
		bits -= keep;
	}
}

/* Masks the source into \a addr (16 octets) and returns its family, or 0. */
static int source_prefix(const mns_rrl_t *rrl, const struct sockaddr *src, uint8_t addr[16],
                         unsigned *bits)
{
	memset(addr, 0, 16);
	if (src->sa_family == AF_INET) {
		memcpy(addr, &((const struct sockaddr_in *)src)->sin_addr, 4);
		*bits = rrl->conf.ipv4_prefix;
		mask_prefix(addr, 4, *bits);
		return AF_INET;
	}
	if (src->sa_family == AF_INET6) {
		memcpy(addr, &((const struct sockaddr_in6 *)src)->sin6_addr, 16);
		*bits = rrl->conf.ipv6_prefix;
		mask_prefix(addr, 16, *bits);
		return AF_INET6;
	}
	return 0;
}

static uint64_t bucket_key(const mns_rrl_t *rrl, int family, const uint8_t addr[16],
                           mns_rrl_class_t cls)
{
	uint64_t a, b;
	memcpy(&a, addr, 8);
	memcpy(&b, addr + 8, 8);
	uint64_t h = mix(rrl->seed ^ ((uint64_t)family << 8 | (uint64_t)cls));
	h = mix(h ^ a);
	h = mix(h ^ b);
	return h ? h : 1; /* 0 marks an empty slot. */
}

static rrl_bucket_t *bucket_find(mns_rrl_t *rrl, uint64_t key, uint64_t now_ms)
{
	rrl_bucket_t *victim = NULL;
	for (size_t i = 0; i < RRL_PROBES; i++) {
		rrl_bucket_t *b = &rrl->table[(key + i) & rrl->mask];
		if (b->key == key)
			return b;
		if (victim == NULL ||
		    (victim->key != 0 && (b->key == 0 || b->refill_ms < victim->refill_ms)))
			victim = b;
	}
	/* A new prefix starts with a full bucket: one second's worth of burst. */
	*victim =
	    (rrl_bucket_t){.key = key, .refill_ms = now_ms, .tokens = rrl->conf.rate * RRL_UNIT};
	return victim;
}

static void log_change(mns_rrl_t *rrl, bool start, int family, const uint8_t addr[16],
                       unsigned bits, mns_rrl_class_t cls, uint64_t now_ms)
{
	uint64_t second = now_ms / 1000;
	if (second != rrl->log_second) {
		if (rrl->log_suppressed > 0)
			mns_log(MNS_LOG_NOTICE, "rrl, %u more rate limiting messages suppressed",
			        rrl->log_suppressed);
		rrl->log_second = second;
		rrl->log_lines = 0;
		rrl->log_suppressed = 0;
	}
	if (rrl->log_lines >= RRL_LOG_PER_SECOND) {
		rrl->log_suppressed++;
		return;
	}
	rrl->log_lines++;
	char text[INET6_ADDRSTRLEN] = "?";
	inet_ntop(family, addr, text, sizeof(text));
	mns_log(MNS_LOG_NOTICE, "rrl, %s/%u %s responses, %s", text, bits, class_names[cls],
	        start ? "limiting started" : "limiting stopped");
}

mns_rrl_action_t mns_rrl_check(mns_rrl_t *rrl, const struct sockaddr *src, mns_rrl_class_t cls,
                               uint64_t now_ms)
{
	if (rrl == NULL || rrl->conf.rate == 0 || src == NULL || cls >= MNS_RRL_N_CLASSES)
		return MNS_RRL_PASS;
	uint8_t addr[16];
	unsigned bits = 0;
	int family = source_prefix(rrl, src, addr, &bits);
	if (family == 0)
		return MNS_RRL_PASS;
	rrl_bucket_t *b = bucket_find(rrl, bucket_key(rrl, family, addr, cls), now_ms);

	uint32_t burst = rrl->conf.rate * RRL_UNIT;
	if (now_ms > b->refill_ms) {
		uint64_t elapsed = now_ms - b->refill_ms;
		uint64_t add = (elapsed > 1000 ? 1000 : elapsed) * rrl->conf.rate;
		uint64_t tokens = b->tokens + add;
		b->tokens = tokens > burst ? burst : (uint32_t)tokens;
		b->refill_ms = now_ms;
	}
	if (b->tokens >= RRL_UNIT) {
		b->tokens -= RRL_UNIT;
		if (b->limited) {
			b->limited = 0;
			log_change(rrl, false, family, addr, bits, cls, now_ms);
		}
		return MNS_RRL_PASS;
	}
	if (!b->limited) {
		b->limited = 1;
		b->slipped = 0;
		log_change(rrl, true, family, addr, bits, cls, now_ms);
	}
	if (rrl->conf.slip == 0)
		return MNS_RRL_DROP;
	b->slipped++;
	return b->slipped % rrl->conf.slip == 0 ? MNS_RRL_SLIP : MNS_RRL_DROP;
}

size_t mns_rrl_truncate(uint8_t *resp, size_t len)
{
	if (len < 12)
		return 0;
	unsigned qdcount = (unsigned)resp[4] << 8 | resp[5];
	size_t pos = 12;
	if (qdcount > 1)
		return 0;
	if (qdcount == 1) {
		for (;;) {
			if (pos >= len)
				return 0;
			uint8_t l = resp[pos];
			if (l == 0) {
				pos++;
				break;
			}
			if ((l & 0xc0) == 0xc0) {
				pos += 2;
				break;
			}
			if (l & 0xc0)
				return 0;
			pos += 1u + l;
		}
		pos += 4; /* QTYPE, QCLASS */
		if (pos > len)
			return 0;
	}
	resp[2] |= 0x02;        /* TC */
	memset(resp + 6, 0, 6); /* ANCOUNT, NSCOUNT, ARCOUNT */
	return pos;
}
