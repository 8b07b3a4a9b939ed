/* witness_client — the ledger's checkpoints submitted to C2SP witnesses, their cosignatures
 * checked and kept, and no checkpoint signed past what a quorum of them contradicts. */
#ifndef PDGATE_WITNESS_CLIENT_H
#define PDGATE_WITNESS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "buf.h"
#include "config.h"
#include "ledger.h"
#include "log.h"
#include "note.h"

/* A witness's answer to add-checkpoint is read up to this size; a longer one is refused. */
#define WITNESS_CLIENT_MAX_ANSWER 65536
/* How long start waits for every witness's first answer before it goes on without them. */
#define WITNESS_CLIENT_START_MS 15000

/*
 * Each witness of [witness] has a thread of its own that holds at most one checkpoint to
 * submit (the newest supersedes), so that a slow or dead witness never delays the ledger's
 * writer, a release or another witness. The submission is c2sp.org/tlog-witness's
 * add-checkpoint (keep-alive, bounded connect and total time); a 409 text/x.tlog.size answer
 * gives the witness's size and the checkpoint is sent again with a proof from there. A
 * cosignature is kept (ledger_cosig.h) only once it verifies with that witness's key at a
 * plausible time; other lines are ignored.
 *
 * A conflict: a witness that has cosigned a larger tree than the checkpoint submitted, the same
 * size with another root (409 with that size), or that finds the proof from its size wrong
 * (422). Once quorum witnesses are in conflict, the ledger is refused (ledger_refuse: no
 * checkpoint, no entry, 503 ledger_unavailable) until the process restarts on a restored
 * ledger: a tail that was cut cannot be signed over.
 */
struct witness_client;

/* The client of cfg's [witness] (cfg->witness.n > 0; cfg borrowed, outlives it), logging to
 * log (borrowed). NULL with err. Caller frees with witness_client_free. Until
 * witness_client_start has asked the witnesses, witness_client_may_sign holds checkpoints. */
struct witness_client *witness_client_new(const struct config *cfg, struct log *log, char *err,
                                          size_t errlen);

/* The ledger hooks (ledger_params.may_sign, .signed_cb, arg the client). */
int witness_client_may_sign(void *arg, uint64_t size);
void witness_client_signed(void *arg, uint64_t size, const char *note, size_t len);

/*
 * Learns where the witnesses stand (each is sent the ledger's latest checkpoint, waiting at
 * most WITNESS_CLIENT_START_MS) and starts the threads. With a quorum in conflict the ledger is
 * refused and this says so in the log; a witness that does not answer is asked again later
 * and releases go on. l is borrowed and must outlive witness_client_stop. 0, or -1 with err
 * (out of memory, a thread or the cosignature store that cannot start).
 */
int witness_client_start(struct witness_client *wc, struct ledger *l, char *err, size_t errlen);

/* Stops the threads (a submission under way ends at its time bound). After it the hooks do
 * nothing. Before ledger_close. NULL is a no-op. */
void witness_client_stop(struct witness_client *wc);
void witness_client_free(struct witness_client *wc);

/* The witness check of /readyz: true if fine; else false with why. */
bool witness_client_check(struct witness_client *wc, char *why, size_t whylen);

/* The pdgate_witness_* families for /metrics, appended to out. */
void witness_client_metrics(struct witness_client *wc, struct buf *out);

/* The summary's "witness" member (new reference, NULL if out of memory). */
json_t *witness_client_json(struct witness_client *wc);

/*
 * Reads a witness's 200 answer ans[0..alen) (untrusted): one or more signature lines "— …\n"
 * and nothing else (at most NOTE_MAX_SIGS lines). The first line that is v's cosignature of
 * the checkpoint text body[0..blen) is given as ans[*off, *off + *len) with its time in *ts;
 * lines of other keys are ignored. 0; -1 not such a list of lines; -2 a line by v's key that
 * does not verify or is malformed; -3 no line by v's key.
 */
int witness_client_answer(const struct note_verifier *v, const char *body, size_t blen,
                          const char *ans, size_t alen, size_t *off, size_t *len, uint64_t *ts);

/* A 409 body: the size in decimal without leading zeros, then "\n". 0 or -1. */
int witness_client_size(const char *s, size_t len, uint64_t *size);

#endif
