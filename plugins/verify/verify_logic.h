/*  verify: the parts of the verifier that need no network — the state
 *  machine, the schedule, reading answers and the diagnosis. Every function
 *  takes "now" or parsed answers, so unit tests drive them directly.
 *  SPDX-License-Identifier: GPL-3.0-or-later */
#ifndef MNS_VERIFY_LOGIC_H
#define MNS_VERIFY_LOGIC_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* --- States and schedule --------------------------------------------------- */

/** Verification states (DESIGN.md, Verification). */
typedef enum mns_vstate {
	MNS_VS_PENDING = 0, /**< Not proven yet; retried with backoff until the deadline. */
	MNS_VS_VERIFIED,    /**< Proven; re-checked daily. */
	MNS_VS_LOST,        /**< Was verified, then failed lost-after checks in a row. */
	MNS_VS_FAILED,      /**< Pending past the deadline; only verify.now checks again. */
} mns_vstate_t;

#define MNS_VS_COUNT 4

/** The outcome of one check. */
typedef enum mns_voutcome {
	MNS_VO_PASS = 0,     /**< Everything required was found. */
	MNS_VO_FAIL,         /**< Something required is missing or wrong. */
	MNS_VO_INCONCLUSIVE, /**< The resolvers could not be asked: nothing learnt. */
} mns_voutcome_t;

/** The schedule, in seconds (the plugin's config). */
typedef struct mns_vsched {
	int64_t first_check;      /**< A new (or reset) tenant's first check, after the mutation. */
	int64_t pending_initial;  /**< First pending retry; doubles after each failure ... */
	int64_t pending_max;      /**< ... up to this. */
	int64_t pending_deadline; /**< Pending this long (since entering it) → failed. */
	int64_t verified_interval; /**< Re-check of a verified tenant. */
	int64_t lost_interval; /**< Re-check of a lost tenant, and of a verified one that failed. */
	int64_t lost_after;    /**< Consecutive failed checks that turn verified into lost. */
	int64_t startup_spread; /**< Window over which overdue checks are spread at start-up. */
} mns_vsched_t;

/** The defaults: 5 s, 1 min doubling to 1 h, 7 days, 1 day, 15 min, 3, 10 min. */
extern const mns_vsched_t mns_verify_sched_defaults;

/** A tenant's verification record (the stored section's bookkeeping). */
typedef struct mns_vrec {
	mns_vstate_t state;
	int64_t since;      /**< When the current state was entered. */
	int64_t last_check; /**< Time of the last conclusive check, 0 = never. */
	int64_t next_check; /**< When to check next, 0 = not scheduled (failed). */
	int64_t failures;   /**< Consecutive failed checks. */
} mns_vrec_t;

/** \brief The state's name ("pending", …). */
const char *mns_verify_state_name(mns_vstate_t s);
/** \brief Parses a state name. \return true when known. */
bool mns_verify_state_parse(const char *name, mns_vstate_t *out);

/** \brief Delay before the next check of a pending tenant after \a failures
 *  failed checks: pending_initial × 2^(failures-1), at most pending_max. */
int64_t mns_verify_backoff(const mns_vsched_t *c, int64_t failures);

/** \brief Applies the outcome of a check made at \a now to \a r: the state
 *  machine and the next check time. \a manual is verify.now, which re-arms a
 *  failed tenant (back to pending, the deadline counted afresh).
 *  \return true when the state changed. */
bool mns_verify_apply(const mns_vsched_t *c, mns_vrec_t *r, mns_voutcome_t o, bool manual,
                      int64_t now);

/** \brief The next check of \a r after a restart at \a now: the stored time
 *  when it is still ahead (clamped to one interval of its state), 0 when it is
 *  overdue or unknown (to be spread), -1 when it is not checked automatically
 *  (failed). */
int64_t mns_verify_resume(const mns_vsched_t *c, const mns_vrec_t *r, int64_t now);

/** \brief When the \a i-th of \a n overdue checks runs after a start at \a now:
 *  evenly over [now + first_check, now + first_check + startup_spread). */
int64_t mns_verify_spread(const mns_vsched_t *c, int64_t now, size_t i, size_t n);

/** \brief Reads the bookkeeping of a stored verify section (missing fields:
 *  pending since 0, never checked, not scheduled, no failures). */
void mns_verify_rec_from_json(const json_t *section, mns_vrec_t *r);
/** \brief Writes the bookkeeping of \a r into \a section. */
void mns_verify_rec_to_json(const mns_vrec_t *r, json_t *section);

/* --- Answers --------------------------------------------------------------- */

/** What a resolver said about one question. */
typedef enum mns_vstatus {
	MNS_VA_ANSWER = 0, /**< NOERROR with records of the asked type. */
	MNS_VA_NODATA,     /**< NOERROR without them. */
	MNS_VA_NXDOMAIN,   /**< The name does not exist. */
	MNS_VA_SERVFAIL,   /**< The resolver could not get an answer (lame, unreachable, broken). */
	MNS_VA_TIMEOUT,    /**< No answer from the resolvers within the timeout and tries. */
	MNS_VA_RESOLVER,   /**< The resolver refused, was unreachable or said nonsense. */
} mns_vstatus_t;

/** Values kept per answer, and their size. */
#define MNS_VA_MAX 16
#define MNS_VA_LEN 256

/** One answer, reduced to what the diagnosis needs. Names are lowercase,
 *  without the trailing dot. */
typedef struct mns_vanswer {
	mns_vstatus_t status;
	size_t n; /**< Values of the asked type at the name (after any CNAME). */
	char values[MNS_VA_MAX][MNS_VA_LEN]; /**< NS or CNAME target names; TXT text. */
	char cname[MNS_VA_LEN];     /**< A CNAME found at the name when another type was asked. */
	char soa_owner[MNS_VA_LEN]; /**< The zone of a negative answer (its SOA), "" if none. */
	char detail[128]; /**< For failures: "SERVFAIL", "timeout", "connection refused", … */
} mns_vanswer_t;

/** \brief Reads a DNS response (wire format) to the question \a qname
 *  (text) / \a qtype into \a a. A response that does not parse is a
 *  resolver problem. \return 0, or -1 on bad arguments. */
int mns_verify_answer_parse(const uint8_t *wire, size_t len, const char *qname, uint16_t qtype,
                            mns_vanswer_t *a);
/** \brief Fills \a a for a query that got no usable response. */
void mns_verify_answer_fail(mns_vanswer_t *a, mns_vstatus_t status, const char *detail);

/* --- Diagnosis ------------------------------------------------------------- */

/** A check's result. */
typedef struct mns_vresult {
	mns_voutcome_t outcome;
	char diagnostic[640]; /**< One sentence for the operator or the customer. */
	json_t *checks;       /**< [{name, type, expected, found, ok, reason}] (owned). */
} mns_vresult_t;

/** \brief Diagnoses an ns-mode tenant from the answers to `NS apex` and
 *  `TXT _mailns-challenge.apex`. \a nameservers is the vendor's set (a JSON
 *  array of names). Fills \a res (free its checks with json_decref). */
void mns_verify_diagnose_ns(const char *apex, const json_t *nameservers, const char *token,
                            const mns_vanswer_t *ns, const mns_vanswer_t *txt, mns_vresult_t *res);

/** A CNAME the customer must have. */
typedef struct mns_vcname {
	const char *name;   /**< The customer's name. */
	const char *target; /**< Where it must point. */
} mns_vcname_t;

/** \brief Diagnoses a cname-mode tenant: \a got[i] answers `CNAME want[i].name`. */
void mns_verify_diagnose_cname(const mns_vcname_t *want, const mns_vanswer_t *got, size_t n,
                               mns_vresult_t *res);

/** \brief Lowercases \a in into \a out without a trailing dot. */
void mns_verify_name_norm(const char *in, char *out, size_t len);

#endif
