/* ledger_cmd — `pdgate ledger`: verify, export, prove, check-proof, backup, upgrade, migrate. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <sys/file.h>
#include <unistd.h>

#include <jansson.h>

#include "codec.h"
#include "config.h"
#include "file.h"
#include "ledger.h"
#include "ledger_backup.h"
#include "ledger_cmd.h"
#include "ledger_db.h"
#include "ledger_migrate.h"
#include "ledger_outside.h"
#include "ledger_read.h"
#include "ledger_upgrade.h"
#include "note.h"
#include "receipt.h"
#include "state_copy.h"

/* A verifier key line, and a proof bundle read by check-proof. */
#define VKEY_MAX_BYTES 4096
#define BUNDLE_MAX_BYTES (1024 * 1024)

static const char ledger_usage[] =
    "usage: pdgate ledger verify (-c FILE | --db LEDGER.db --vkey VKEY) [--interval MS]\n"
    "                            [--checkpoint NOTE [--witness VKEY]... [--quorum N]]\n"
    "       pdgate ledger export (-c FILE | --db LEDGER.db) [--start N] [--end M]\n"
    "       pdgate ledger checkpoint (-c FILE | --db LEDGER.db)\n"
    "       pdgate ledger prove (-c FILE | --db LEDGER.db --vkey VKEY) INDEX [--size N]\n"
    "       pdgate ledger check-proof BUNDLE --vkey VKEY [--witness VKEY]... [--quorum N]\n"
    "       pdgate ledger backup -c FILE [--vkey VKEY] [--interval MS] DEST\n"
    "       pdgate ledger upgrade (-c FILE | --db LEDGER.db --vkey VKEY)\n"
    "       pdgate ledger migrate --from LEDGER.db --to postgresql://... (-c FILE | --vkey VKEY)\n"
    "       pdgate ledger migrate --to postgresql://... -c FILE\n"
    "\n"
    "verify       checks the whole ledger offline: every leaf against its hash and position,\n"
    "             every stored node, every checkpoint's root, signature and consistency with\n"
    "             the next; entries after the latest checkpoint only if younger than three\n"
    "             checkpoint intervals plus 2 s (--interval, default from -c or 1000).\n"
    "             Prints the size, the latest checkpoint and 'ledger OK', or the first bad\n"
    "             entry or checkpoint; exit 0 only if intact. With --checkpoint NOTE (a\n"
    "             checkpoint kept outside, e.g. by an auditor or a witness) also that it is\n"
    "             signed by the ledger's key and that the ledger extends it: its tree at that\n"
    "             size has that root, by a consistency proof to the latest checkpoint.\n"
    "             With --witness VKEY (a witness's cosigner key, type 0x04, or a file holding\n"
    "             it; repeatable), NOTE must carry valid cosignatures by at least --quorum N\n"
    "             of them (default all); lines by other keys are ignored.\n"
    "export       writes the leaves [N, M) (default all), one per line, as hashed.\n"
    "checkpoint   prints the latest signed checkpoint note.\n"
    "prove        prints a proof bundle (JSON) of entry INDEX in the checkpoint of size N\n"
    "             (default the latest), checkable with the verifier key alone.\n"
    "check-proof  checks a bundle with the verifier key alone; exit 0 only if it holds.\n"
    "             --witness and --quorum as for verify, on the bundle's checkpoint.\n"
    "backup       copies the ledger and the state database of -c, while the gateway serves,\n"
    "             into the new folder DEST: each a snapshot of one read transaction (commits\n"
    "             go on meanwhile), the ledger up to its latest checkpoint (waiting up to\n"
    "             three intervals plus 2 s for one over the entries committed at the start),\n"
    "             with ledger.vkey and the checkpoint note beside. The copy is built in\n"
    "             DEST.tmp-*, verified as verify does, synced, then renamed to DEST: a failure\n"
    "             leaves no DEST. Prints the sizes copied and the copy's checkpoint. The keys\n"
    "             are not copied: back them up apart. Exit 0 done; 1 the ledger or state\n"
    "             database unreadable, no checkpoint came, or the copy does not verify;\n"
    "             2 usage; 3 DEST exists or its folder is missing or not writable;\n"
    "             4 writing failed (no space, I/O error). docs/operations.md, \"Backups\n"
    "             and restore\", has what to keep apart and how to restore.\n"
    "             With [ledger] url (PostgreSQL): one REPEATABLE READ snapshot of the database,\n"
    "             read while the nodes write, up to its latest checkpoint, into DEST/ledger.db\n"
    "             (a single gateway's layout, with the witnesses' cosignatures of its\n"
    "             checkpoints, verified as above); state.db is the state database of -c\n"
    "             with the database's suspensions and revoked tokens. Restore with migrate\n"
    "             --from DEST/ledger.db into an empty database (docs/cluster.md).\n"
    "upgrade      converts a ledger written by an earlier pdgate (schema 1: a row per entry)\n"
    "             to this one's batches, in one transaction, checking it before (hashes,\n"
    "             nodes, checkpoint signatures) and after (verify, and the same leaves byte\n"
    "             for byte and the same checkpoints) before committing. The gateway does the\n"
    "             same when it opens such a ledger. It writes: stop the gateway of an earlier\n"
    "             pdgate first. Exit 0 upgraded or already current; 1 not upgraded.\n"
    "migrate      moves an embedded ledger into an empty PostgreSQL database (its tables made\n"
    "             if absent), row for row in one transaction: the file verified first (every\n"
    "             entry signed: stop its gateway, whose lock the command takes), the copy\n"
    "             verified before it commits and again after, with the same size, latest\n"
    "             checkpoint and leaves. With -c FILE also the [gateway] state database's\n"
    "             suspensions, revoked tokens and members' requests, in the same transaction,\n"
    "             and the state database marked as copied (a node on [ledger] url refuses to\n"
    "             start on one that holds some never copied). Without --from: only that copy,\n"
    "             into a database that holds the ledger already. Exit 0 moved; 1 not moved\n"
    "             (nothing stored).\n"
    "\n"
    "Except upgrade, the ledger is opened read-only: the commands work on a running gateway's file "
    "and on a\n"
    "copy. With -c the verifier key is the [ledger] key's .vkey file beside it (or is derived\n"
    "from the key). docs/ledger.md describes the formats.\n";

struct cli {
	const char *cmd;
	const char *conf, *db, *vkey_path;
	const char *from, *to; /* migrate */
	const char *args[2];   /* positional */
	unsigned nargs;
	uint64_t start, end, size;
	int has_start, has_end, has_size;
	unsigned interval_ms;
	struct config *cfg;
	char *vkey; /* the verifier key line, no newline */
	struct note_verifier *verifier;
	const char *checkpoint;      /* --checkpoint: a note file kept outside */
	struct ledger_quorum quorum; /* --witness, --quorum */
};

static int cli_err(const struct cli *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int
cli_err(const struct cli *c, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "pdgate ledger %s: ", c->cmd);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	return 1;
}

static int
parse_u64(const char *s, uint64_t *v)
{
	char *end;

	if (s == NULL || *s < '0' || *s > '9')
		return -1;
	errno = 0;
	unsigned long long x = strtoull(s, &end, 10);
	if (errno != 0 || *end != '\0' || x > INT64_MAX)
		return -1;
	*v = x;
	return 0;
}

/* The verifier key: --vkey, else the .vkey beside the configured key, else derived from it. */
static int
cli_vkey(struct cli *c)
{
	char path[4096], err[1024];
	const char *from = c->vkey_path;
	size_t len = 0;

	if (from == NULL && c->cfg != NULL) {
		size_t n = strlen(c->cfg->ledger.key);
		if (n > 4 && strcmp(c->cfg->ledger.key + n - 4, ".key") == 0 && n < sizeof(path)) {
			snprintf(path, sizeof(path), "%.*s.vkey", (int)(n - 4), c->cfg->ledger.key);
			if (access(path, R_OK) == 0)
				from = path;
		}
		if (from == NULL &&
		    (c->vkey = ledger_key_vkey(c->cfg->ledger.key, c->cfg->ledger.origin, err,
		                               sizeof(err))) == NULL)
			return cli_err(c, "%s", err);
	}
	if (from != NULL) {
		if ((c->vkey = file_read(from, VKEY_MAX_BYTES, 0, &len, err, sizeof(err))) == NULL)
			return cli_err(c, "verifier key %s", err);
		while (len > 0 && (c->vkey[len - 1] == '\n' || c->vkey[len - 1] == '\r'))
			c->vkey[--len] = '\0';
	}
	if (c->vkey == NULL)
		return cli_err(c, "a verifier key is needed: --vkey VKEY (or -c FILE)");
	if ((c->verifier = note_verifier_new(c->vkey, strlen(c->vkey))) == NULL)
		return cli_err(c, "%s is not an Ed25519 verifier key (NAME+ID+KEY)",
		               from ? from : "the derived key");
	return 0;
}

static const char *
cli_db(const struct cli *c)
{
	return c->db ? c->db : config_ledger_where(c->cfg);
}

static struct ledger *
cli_open(struct cli *c)
{
	struct ledger_params p = {.path = cli_db(c),
	                          .origin = c->cfg ? c->cfg->ledger.origin : NULL,
	                          .readers = 1,
	                          .read_only = true};
	char err[1024];
	struct ledger *l;

	if ((l = ledger_open(&p, err, sizeof(err))) == NULL)
		cli_err(c, "%s", err);
	return l;
}

static void
b64_encode(const uint8_t h[MERKLE_HASH_LEN], char out[CODEC_B64_LEN(MERKLE_HASH_LEN) + 1])
{
	codec_b64_encode(h, MERKLE_HASH_LEN, out);
}

/* Exactly the canonical base64 of a hash. */
static int
b64_decode(const char *s, uint8_t out[MERKLE_HASH_LEN])
{
	return s != NULL && codec_b64_decode(s, strlen(s), out, MERKLE_HASH_LEN) == MERKLE_HASH_LEN
	           ? 0
	           : -1;
}

/* The --checkpoint note, read and, with --witness, checked for the quorum (before the ledger
 * is read: a note that fails here needs no ledger). 0, or 1 with the reason printed. */
static int
cli_note(struct cli *c, char **note, size_t *len, size_t *n_valid)
{
	char err[1024];

	if ((*note = file_read(c->checkpoint, NOTE_MAX_SIZE, FILE_READ_NONEMPTY, len, err,
	                       sizeof(err))) == NULL)
		return cli_err(c, "--checkpoint %s", err);
	if (c->quorum.n > 0 &&
	    ledger_quorum_check(&c->quorum, *note, *len, n_valid, err, sizeof(err)) != 0) {
		free(*note);
		*note = NULL;
		return cli_err(c, "%s: %s", c->checkpoint, err);
	}
	return 0;
}

/*
 * SPEC 11.5, plus what makes a dropped tail visible (docs/ledger.md, "Verification"):
 * entries after the latest checkpoint are accepted only if the gateway may still be about to
 * sign them — none of them is gateway_stop, and the oldest is younger than the grace — and
 * every entry that follows a gateway_stop is a gateway_start.
 */
static int
cmd_verify(struct cli *c)
{
	struct ledger_verdict v;
	struct ledger *l = NULL;
	struct timespec now;
	int64_t grace = 3 * (int64_t)c->interval_ms + 2000;
	char b64[CODEC_B64_LEN(MERKLE_HASH_LEN) + 1], err[1024], *note = NULL;
	size_t len = 0, n_valid = 0;
	int rc = 1;

	if (cli_vkey(c) != 0)
		return 1;
	if (c->checkpoint != NULL && cli_note(c, &note, &len, &n_valid) != 0)
		return 1;
	if ((l = cli_open(c)) == NULL)
		goto done;
	if (strcmp(ledger_origin(l), note_verifier_name(c->verifier)) != 0) {
		cli_err(c, "the ledger's origin '%s' is not the verifier key's name '%s'",
		        ledger_origin(l), note_verifier_name(c->verifier));
		goto done;
	}
	clock_gettime(CLOCK_REALTIME, &now);
	if (ledger_verify(l, c->verifier, (int64_t)now.tv_sec * 1000 + now.tv_nsec / 1000000, grace,
	                  &v) != 0) {
		cli_err(c, "%s", v.problem);
		goto done;
	}
	if (v.unsigned_n > 0)
		printf("unsigned %" PRIu64 " entries after the latest checkpoint, %" PRId64
		       " ms old: a running gateway signs them within %" PRId64 " ms\n",
		       v.unsigned_n, v.unsigned_age_ms, grace);
	printf("size %" PRIu64 "\n", v.size);
	if (v.cp_size > 0) {
		b64_encode(v.cp_root, b64);
		printf("checkpoint %" PRIu64 " %s\n", v.cp_size, b64);
	} else {
		printf("checkpoint none\n");
	}
	if (note != NULL) {
		struct note_checkpoint cp;
		if (ledger_outside_extends(l, c->verifier, note, len, v.cp_size, v.cp_root, &cp,
		                           err, sizeof(err)) != 0) {
			cli_err(c, "%s: %s", c->checkpoint, err);
			goto done;
		}
		b64_encode(cp.root, b64);
		printf("extends checkpoint %" PRIu64 " %s of %s\n", cp.size, b64, c->checkpoint);
		if (c->quorum.n > 0)
			printf("cosigned by %zu of %zu witnesses\n", n_valid, c->quorum.n);
	}
	printf("ledger OK\n");
	rc = 0;
done:
	free(note);
	ledger_close(l);
	return rc;
}

static int
export_leaf(void *arg, uint64_t index, const char *leaf, size_t len)
{
	(void)index;
	FILE *out = arg;
	return fwrite(leaf, 1, len, out) != len || fputc('\n', out) == EOF;
}

static int
cmd_export(struct cli *c)
{
	struct ledger *l = cli_open(c);
	uint64_t size;
	int rc = 1, r;

	if (l == NULL)
		return 1;
	if ((r = ledger_size(l, &size)) < 0) {
		cli_err(c, "%s", ledger_strerror(r));
		goto done;
	}
	uint64_t start = c->has_start ? c->start : 0, end = c->has_end ? c->end : size;
	if (start > end || end > size) {
		cli_err(c,
		        "range [%" PRIu64 ", %" PRIu64 ") is outside the ledger of %" PRIu64
		        " entries",
		        start, end, size);
		goto done;
	}
	if ((r = ledger_leaves(l, start, end, export_leaf, stdout)) < 0 || fflush(stdout) != 0) {
		cli_err(c, "%s", r < 0 ? ledger_strerror(r) : strerror(errno));
		goto done;
	}
	rc = 0;
done:
	ledger_close(l);
	return rc;
}

static int
cmd_checkpoint(struct cli *c)
{
	struct ledger *l = cli_open(c);
	char *note = NULL;
	size_t len;
	uint64_t size;
	int rc = 1, r;

	if (l == NULL)
		return 1;
	if ((r = ledger_checkpoint(l, 0, &note, &len, &size)) < 0) {
		cli_err(c, "%s", r == LEDGER_ENOENT ? "no checkpoint yet" : ledger_strerror(r));
		goto done;
	}
	if (fwrite(note, 1, len, stdout) != len || fflush(stdout) != 0) {
		cli_err(c, "%s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	free(note);
	ledger_close(l);
	return rc;
}

/* Checks a bundle (parsed) with the verifier alone. 0, or 1 with the reason printed. */
static int
check_bundle(struct cli *c, json_t *b)
{
	json_t *leaf = json_object_get(b, "leaf"), *proof = json_object_get(b, "proof");
	json_t *index = json_object_get(b, "index"), *size = json_object_get(b, "size");
	json_t *note = json_object_get(b, "checkpoint");
	uint8_t hash[MERKLE_HASH_LEN], claimed[MERKLE_HASH_LEN];
	uint8_t p[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct ledger_leaf *parsed = NULL;
	struct note_checkpoint cp;
	size_t np;
	int rc = 1, r;

	if (!json_is_string(leaf) || !json_is_array(proof) || !json_is_integer(index) ||
	    !json_is_integer(size) || !json_is_string(note) || json_integer_value(index) < 0 ||
	    json_integer_value(size) <= json_integer_value(index))
		return cli_err(c, "not a proof bundle: leaf, index, size, leaf_hash, proof and "
		                  "checkpoint are required");
	if ((np = json_array_size(proof)) > MERKLE_MAX_PROOF)
		return cli_err(c, "proof too long");
	for (size_t i = 0; i < np; i++)
		if (b64_decode(json_string_value(json_array_get(proof, i)), p[i]) < 0)
			return cli_err(c, "proof[%zu] is not the base64 of a hash", i);
	if (b64_decode(json_string_value(json_object_get(b, "leaf_hash")), claimed) < 0)
		return cli_err(c, "leaf_hash is not the base64 of a hash");
	if (merkle_leaf_hash(json_string_value(leaf), json_string_length(leaf), hash) !=
	        MERKLE_OK ||
	    memcmp(hash, claimed, MERKLE_HASH_LEN) != 0)
		return cli_err(c, "the leaf does not hash to leaf_hash");
	if ((parsed = malloc(sizeof(*parsed))) == NULL)
		return cli_err(c, "out of memory");
	if (ledger_leaf_parse(json_string_value(leaf), json_string_length(leaf), parsed) < 0 ||
	    parsed->index != (uint64_t)json_integer_value(index)) {
		cli_err(c, "the leaf is not a ledger leaf of index %lld",
		        (long long)json_integer_value(index));
		goto done;
	}
	if ((r = note_checkpoint_open(json_string_value(note), json_string_length(note),
	                              &c->verifier, 1, &cp)) != NOTE_OK) {
		cli_err(c, "the checkpoint does not verify with %s: %s",
		        note_verifier_name(c->verifier), note_strerror(r));
		goto done;
	}
	if (cp.size != (uint64_t)json_integer_value(size)) {
		cli_err(c, "the checkpoint is of size %" PRIu64 ", the bundle says %lld", cp.size,
		        (long long)json_integer_value(size));
		goto done;
	}
	if ((r = merkle_verify_inclusion((uint64_t)json_integer_value(index), cp.size, hash,
	                                 (const uint8_t(*)[MERKLE_HASH_LEN])p, np, cp.root)) !=
	    MERKLE_OK) {
		cli_err(c, "the proof does not lead to the checkpoint's root: %s",
		        merkle_strerror(r));
		goto done;
	}
	rc = 0;
done:
	free(parsed);
	return rc;
}

static int
cmd_prove(struct cli *c)
{
	struct ledger *l = NULL;
	json_t *b = NULL;
	char *out = NULL;
	uint64_t index, size;
	int rc = 1, r;

	if (c->nargs != 1 || parse_u64(c->args[0], &index) < 0)
		return cli_err(c, "INDEX (a decimal entry index) is required");
	if (cli_vkey(c) != 0 || (l = cli_open(c)) == NULL)
		return 1;
	r = receipt_bundle(l, index, c->has_size ? c->size : 0, c->vkey, &b, &size);
	if (r == LEDGER_ENOENT) {
		cli_err(c, "%s", c->has_size ? "no checkpoint of that size" : "no checkpoint yet");
		goto done;
	}
	if (r == LEDGER_ERANGE) {
		cli_err(c,
		        "entry %" PRIu64 " is not in the checkpoint of size %" PRIu64
		        " (the next checkpoint will hold it)",
		        index, size);
		goto done;
	}
	if (r != 0) {
		cli_err(c, "%s", r == LEDGER_ENOMEM ? "out of memory" : ledger_strerror(r));
		goto done;
	}
	/* Never hand out a bundle that would not check. */
	if (check_bundle(c, b) != 0)
		goto done;
	if ((out = json_dumps(b, JSON_INDENT(2) | JSON_PRESERVE_ORDER)) == NULL) {
		cli_err(c, "out of memory");
		goto done;
	}
	if (printf("%s\n", out) < 0 || fflush(stdout) != 0) {
		cli_err(c, "%s", strerror(errno));
		goto done;
	}
	rc = 0;
done:
	json_decref(b);
	free(out);
	ledger_close(l);
	return rc;
}

static int
cmd_check_proof(struct cli *c)
{
	json_error_t jerr;
	json_t *b = NULL;
	char *text, err[1024];
	size_t len, n_valid = 0;
	int rc = 1;

	if (c->nargs != 1)
		return cli_err(c, "BUNDLE (a file from pdgate ledger prove) is required");
	if (c->vkey_path == NULL)
		return cli_err(c,
		               "--vkey VKEY is required: the bundle is checked against it alone");
	if (cli_vkey(c) != 0)
		return 1;
	if ((text = file_read(c->args[0], BUNDLE_MAX_BYTES, 0, &len, err, sizeof(err))) == NULL)
		return cli_err(c, "%s", err);
	if ((b = json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr)) == NULL ||
	    !json_is_object(b)) {
		cli_err(c, "%s: not JSON: %s", c->args[0], b ? "not an object" : jerr.text);
		goto done;
	}
	if (check_bundle(c, b) != 0)
		goto done;
	if (c->quorum.n > 0) {
		json_t *note = json_object_get(b, "checkpoint");
		if (ledger_quorum_check(&c->quorum, json_string_value(note),
		                        json_string_length(note), &n_valid, err,
		                        sizeof(err)) != 0) {
			cli_err(c, "%s: %s", c->args[0], err);
			goto done;
		}
	}
	printf("proof OK: entry %lld is in the tree of size %lld signed by %s\n",
	       (long long)json_integer_value(json_object_get(b, "index")),
	       (long long)json_integer_value(json_object_get(b, "size")), c->vkey);
	if (c->quorum.n > 0)
		printf("cosigned by %zu of %zu witnesses\n", n_valid, c->quorum.n);
	rc = 0;
done:
	json_decref(b);
	free(text);
	return rc;
}

/* The exit status of each backup failure: what an operator's script tells apart. */
static int
backup_status(int err)
{
	switch (err) {
	case LEDGER_BACKUP_EXISTS:
	case LEDGER_BACKUP_DEST:
		return 3;
	case LEDGER_BACKUP_WRITE:
		return 4;
	default:
		return 1;
	}
}

static int
cmd_backup(struct cli *c)
{
	struct ledger_backup_result r;
	char b64[CODEC_B64_LEN(MERKLE_HASH_LEN) + 1];
	int64_t grace = 3 * (int64_t)c->interval_ms + 2000;
	int rc;

	if (c->cfg == NULL || c->db != NULL) {
		cli_err(c, "-c FILE is required (and no --db): it names the ledger and the state "
		           "database");
		return 2;
	}
	if (c->nargs != 1) {
		cli_err(c, "DEST (a new folder) is required");
		return 2;
	}
	if (cli_vkey(c) != 0)
		return 1;
	struct ledger_backup_params p = {.ledger = config_ledger_where(c->cfg),
	                                 .state = c->cfg->gateway.state,
	                                 .dest = c->args[0],
	                                 .vkey = c->vkey,
	                                 .verifier = c->verifier,
	                                 .wait_ms = (unsigned)grace,
	                                 .grace_ms = grace};
	if ((rc = ledger_backup(&p, &r)) != 0) {
		cli_err(c, "%s; nothing was written to %s", r.problem, c->args[0]);
		return backup_status(rc);
	}
	b64_encode(r.root, b64);
	printf("ledger.db %" PRId64 " bytes, %" PRIu64 " entries\n", r.ledger_bytes, r.size);
	if (r.cosignatures > 0)
		printf("and %" PRIu64 " cosignatures of the witnesses\n", r.cosignatures);
	if (r.state_bytes >= 0)
		printf("state.db %" PRId64 " bytes\n", r.state_bytes);
	printf("size %" PRIu64 "\n", r.size);
	if (r.size > 0)
		printf("checkpoint %" PRIu64 " %s\n", r.size, b64);
	else
		printf("checkpoint none\n");
	printf("entries at the start %" PRIu64 ", in the snapshot %" PRIu64
	       " (those after its latest checkpoint left to the next backup)\n",
	       r.start_size, r.snapshot_size);
	printf("waited %" PRId64 " ms for the checkpoint, copied in %" PRId64
	       " ms, verified in %" PRId64 " ms\n",
	       r.wait_ms, r.copy_ms, r.verify_ms);
	printf("backup OK: %s\n", c->args[0]);
	return 0;
}

/* Converts a ledger of the earlier layout in place (ledger_upgrade.h). */
static int
cmd_upgrade(struct cli *c)
{
	struct ledger_upgrade_report u;
	struct ledger_conn *conn = NULL;
	const char *path = cli_db(c);
	char err[1024];
	int schema, rc = 1;

	if (cli_vkey(c) != 0)
		return 1;
	/* never create a ledger: only an existing file is upgraded */
	if (access(path, R_OK | W_OK) != 0)
		return cli_err(c, "%s: %s", path, strerror(errno));
	if ((conn = ledger_conn_open(path, true, err, sizeof(err))) == NULL) {
		cli_err(c, "%s", err);
		goto done;
	}
	if ((schema = ledger_db_schema(conn->db, err, sizeof(err))) < 0) {
		cli_err(c, "%s: %s", path, err);
		goto done;
	}
	if (schema == LEDGER_SCHEMA) {
		printf("ledger schema %d: nothing to upgrade\n", schema);
		rc = 0;
		goto done;
	}
	if (schema != LEDGER_SCHEMA_OLD) {
		cli_err(c, "%s: not a pdgate ledger", path);
		goto done;
	}
	if (ledger_upgrade_run(conn->db, note_verifier_name(c->verifier), c->verifier, &u, err,
	                       sizeof(err)) < 0) {
		cli_err(c, "%s: %s; nothing changed", path, err);
		goto done;
	}
	printf("upgraded to schema %d: %" PRIu64 " entries in %" PRIu64 " batches, %" PRIu64
	       " checkpoints kept; verified before and after\n",
	       LEDGER_SCHEMA, u.size, u.batches, u.checkpoints);
	rc = 0;
done:
	ledger_conn_free(conn);
	return rc;
}

/* The gateway's shared state, copied in the destination's transaction (state_copy.h). */
struct state_ctx {
	struct state_copy *sc;
	struct state_copy_report r;
};

static int
copy_state(void *arg, struct ledger_store *dst, char *err, size_t errlen)
{
	struct state_ctx *x = arg;

	return state_copy_into(x->sc, dst, &x->r, err, errlen);
}

/* After the database committed: the state database marked copied, and what was copied. */
static int
state_done(struct cli *c, struct state_ctx *x)
{
	char err[512];
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	int rc = state_copy_end(x->sc, 1, (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000, err,
	                        sizeof(err));
	x->sc = NULL;
	if (rc != 0)
		return cli_err(c,
		               "%s: %s (the database holds the copy; mark it again with "
		               "pdgate ledger migrate --to URL -c FILE)",
		               c->cfg->gateway.state, err);
	printf("copied %" PRIu64 " suspensions, %" PRIu64 " revoked tokens and %" PRIu64
	       " members' requests of %s\n",
	       x->r.suspensions, x->r.revoked, x->r.requests, c->cfg->gateway.state);
	return 0;
}

/* Moves an embedded ledger into PostgreSQL (ledger_migrate.h), holding the file's gateway
 * lock: no gateway writes the file meanwhile, and one that runs refuses the move. With -c, the
 * gateway's shared state too; without --from, that alone. */
static int
cmd_migrate(struct cli *c)
{
	struct ledger_migrate_report r;
	struct state_ctx x = {0};
	char err[1024], b64[CODEC_B64_LEN(MERKLE_HASH_LEN) + 1];
	int fd = -1, rc = 1;

	if (c->from != NULL && cli_vkey(c) != 0)
		return 1;
	if (c->cfg != NULL &&
	    (x.sc = state_copy_open(c->cfg->gateway.state, err, sizeof(err))) == NULL)
		return cli_err(c, "[gateway] state: %s", err);
	if (c->from == NULL) {
		if (ledger_migrate_state(c->to, c->cfg->ledger.origin, copy_state, &x, err,
		                         sizeof(err)) != 0) {
			cli_err(c, "%s; nothing was stored", err);
			goto done;
		}
		rc = state_done(c, &x) != 0;
		goto done;
	}
	if ((fd = open(c->from, O_RDONLY | O_CLOEXEC)) < 0) {
		cli_err(c, "%s: %s", c->from, strerror(errno));
		goto done;
	}
	if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
		cli_err(c, "%s: %s", c->from,
		        errno == EWOULDBLOCK ? "a pdgate is running on this ledger: stop it first"
		                             : strerror(errno));
		goto done;
	}
	if (ledger_migrate(c->from, c->to, c->verifier, x.sc ? copy_state : NULL, &x, &r, err,
	                   sizeof(err)) != 0) {
		cli_err(c, "%s; nothing was stored", err);
		goto done;
	}
	b64_encode(r.root, b64);
	printf("size %" PRIu64 "\n", r.size);
	if (r.size > 0)
		printf("checkpoint %" PRIu64 " %s\n", r.size, b64);
	printf("migrated %" PRIu64 " entries in %" PRIu64 " batches and %" PRIu64
	       " checkpoints; verified before and after\n",
	       r.size, r.batches, r.checkpoints);
	if (r.cosignatures > 0)
		printf("and %" PRIu64 " cosignatures of the witnesses\n", r.cosignatures);
	rc = x.sc != NULL ? state_done(c, &x) != 0 : 0;
done:
	state_copy_end(x.sc, 0, 0, err, sizeof(err));
	if (fd >= 0)
		close(fd);
	return rc;
}

int
ledger_main(int argc, char **argv)
{
	struct cli c = {.cmd = "", .interval_ms = 0};
	char *errors = NULL;
	int rc = 2;

	if (argc < 2 || strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		fputs(ledger_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	c.cmd = argv[1];
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		const char *v = i + 1 < argc ? argv[i + 1] : NULL;
		int takes = 1;
		if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
			fputs(ledger_usage, stdout);
			rc = 0;
			goto out;
		} else if (strcmp(a, "-c") == 0 || strcmp(a, "--config") == 0) {
			c.conf = v;
		} else if (strcmp(a, "--db") == 0) {
			c.db = v;
		} else if (strcmp(a, "--from") == 0) {
			c.from = v;
		} else if (strcmp(a, "--to") == 0) {
			c.to = v;
		} else if (strcmp(a, "--vkey") == 0) {
			c.vkey_path = v;
		} else if (strcmp(a, "--checkpoint") == 0) {
			c.checkpoint = v;
		} else if (strcmp(a, "--witness") == 0) {
			char err[1024];
			if (v != NULL && ledger_quorum_add(&c.quorum, v, err, sizeof(err)) != 0) {
				cli_err(&c, "--witness %s", err);
				goto out;
			}
		} else if (strcmp(a, "--quorum") == 0) {
			uint64_t q = 0;
			if (v != NULL &&
			    (parse_u64(v, &q) < 0 || q == 0 || q > LEDGER_OUTSIDE_MAX_WITNESSES)) {
				cli_err(&c, "--quorum takes a number of witnesses (1..%d)",
				        LEDGER_OUTSIDE_MAX_WITNESSES);
				goto out;
			}
			c.quorum.quorum = v != NULL ? (size_t)q : 0;
		} else if (strcmp(a, "--start") == 0) {
			c.has_start = parse_u64(v, &c.start) == 0 ? 1 : -1;
		} else if (strcmp(a, "--end") == 0) {
			c.has_end = parse_u64(v, &c.end) == 0 ? 1 : -1;
		} else if (strcmp(a, "--size") == 0) {
			c.has_size = parse_u64(v, &c.size) == 0 && c.size > 0 ? 1 : -1;
		} else if (strcmp(a, "--interval") == 0) {
			uint64_t ms;
			if (parse_u64(v, &ms) < 0 || ms == 0 || ms > 86400000) {
				cli_err(&c, "--interval takes milliseconds (1..86400000)");
				goto out;
			}
			c.interval_ms = (unsigned)ms;
		} else if (a[0] == '-' && a[1] != '\0') {
			cli_err(&c, "unknown option %s (see pdgate ledger --help)", a);
			goto out;
		} else {
			takes = 0;
			if (c.nargs == 2) {
				cli_err(&c, "too many arguments");
				goto out;
			}
			c.args[c.nargs++] = a;
		}
		if (takes) {
			if (v == NULL) {
				cli_err(&c, "%s needs a value", a);
				goto out;
			}
			i++;
		}
	}
	if (c.has_start < 0 || c.has_end < 0 || c.has_size < 0) {
		cli_err(&c, "--start, --end and --size take a decimal number");
		goto out;
	}
	int is_check = strcmp(c.cmd, "check-proof") == 0;
	int is_backup = strcmp(c.cmd, "backup") == 0;
	int is_verify = strcmp(c.cmd, "verify") == 0;
	int is_migrate = strcmp(c.cmd, "migrate") == 0;
	if ((c.from != NULL || c.to != NULL) && !is_migrate) {
		cli_err(&c, "--from and --to are options of migrate");
		goto out;
	}
	if (is_migrate && (c.to == NULL || c.db != NULL || (c.from == NULL && c.conf == NULL))) {
		cli_err(&c, "migrate takes --from LEDGER.db and --to postgresql://..., or --to and "
		            "-c FILE (and no --db)");
		goto out;
	}
	if (c.checkpoint != NULL && !is_verify) {
		cli_err(&c, "--checkpoint is an option of verify");
		goto out;
	}
	if (c.quorum.n > 0 && !is_check && c.checkpoint == NULL) {
		cli_err(&c, "--witness is for check-proof, or for verify with --checkpoint NOTE");
		goto out;
	}
	if (c.quorum.quorum > c.quorum.n) {
		cli_err(&c, "--quorum %zu needs at least that many --witness keys (%zu given)",
		        c.quorum.quorum, c.quorum.n);
		goto out;
	}
	if (!is_check && !is_backup && !is_migrate && (c.conf == NULL) == (c.db == NULL)) {
		cli_err(&c, "give either -c FILE or --db LEDGER.db");
		goto out;
	}
	if (c.conf != NULL) {
		if ((c.cfg = config_load(c.conf, &errors)) == NULL) {
			fprintf(stderr, "%s", errors ? errors : "out of memory\n");
			free(errors);
			rc = 1;
			goto out;
		}
		if (c.interval_ms == 0)
			c.interval_ms = c.cfg->ledger.checkpoint_interval_ms;
	}
	if (c.interval_ms == 0)
		c.interval_ms = 1000;
	if (is_verify)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_verify(&c);
	else if (strcmp(c.cmd, "export") == 0)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_export(&c);
	else if (strcmp(c.cmd, "checkpoint") == 0)
		rc =
		    c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_checkpoint(&c);
	else if (strcmp(c.cmd, "prove") == 0)
		rc = cmd_prove(&c);
	else if (is_check)
		rc = cmd_check_proof(&c);
	else if (is_backup)
		rc = cmd_backup(&c);
	else if (strcmp(c.cmd, "upgrade") == 0)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_upgrade(&c);
	else if (is_migrate)
		rc = c.nargs ? cli_err(&c, "unexpected argument %s", c.args[0]) : cmd_migrate(&c);
	else
		rc = cli_err(&c, "unknown command (verify, export, checkpoint, prove, check-proof, "
		                 "backup, upgrade, migrate)") +
		     1;
out:
	ledger_quorum_clear(&c.quorum);
	note_verifier_free(c.verifier);
	free(c.vkey);
	config_free(c.cfg);
	return rc;
}
