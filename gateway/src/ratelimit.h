/* ratelimit — per-contract request rate and daily record volume, shared by every worker thread. */
#ifndef PDGATE_RATELIMIT_H
#define PDGATE_RATELIMIT_H

#include <stdint.h>

struct ratelimit;

/* An empty set of counters. NULL on allocation failure. Caller frees with ratelimit_free. */
struct ratelimit *ratelimit_new(void);
void ratelimit_free(struct ratelimit *l);

/*
 * Step 8 of the decision for one request of contract_id at now_ms. rpm is requests_per_minute
 * (0: no limit): a token bucket of rpm tokens refilled at rpm per minute. per_day is
 * records_per_day (0: no limit). want is how many records the request may release at most.
 * Returns 0, takes one request token and RESERVES *granted (1..want) records of today's volume
 * — a page is trimmed to the volume left — so that requests running at the same time cannot
 * share the same remainder; the caller must settle the reservation with ratelimit_settle.
 * Or returns -1 with *retry_after_s set (seconds until a token, or until midnight JST for
 * volume) and takes nothing.
 */
int ratelimit_admit(struct ratelimit *l, const char *contract_id, uint32_t rpm, uint64_t per_day,
                    uint32_t want, int64_t now_ms, uint32_t *granted, uint32_t *retry_after_s);

/*
 * Ends a reservation made at reserved_ms: of the granted records, used were released (after
 * the ledger committed them); the rest go back to the day's volume — unless the Japan day has
 * turned since, when the new day owes nothing.
 */
void ratelimit_settle(struct ratelimit *l, const char *contract_id, uint32_t granted, uint32_t used,
                      int64_t reserved_ms);

/* Sets the volume already released on day (a cal_jst_day, from the ledger at start), so a restart
 * does not reset the day's count. */
void ratelimit_seed(struct ratelimit *l, const char *contract_id, int64_t day, uint64_t records);

/*
 * With several nodes sharing one count (a PostgreSQL ledger): the ledger's writer says that
 * contract_id's volume of day, across the nodes, is total, committed of which are records this
 * node had reserved and has just released (their requests settle them as used afterwards).
 * What this node holds reserved and not yet committed stays counted on top, so that admit sees
 * the shared total plus its own requests under way. A total older than the counter's changes
 * nothing.
 */
void ratelimit_learn(struct ratelimit *l, const char *contract_id, int64_t day, uint64_t total,
                     uint64_t committed);

#endif
