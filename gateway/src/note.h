/* note — C2SP signed notes and tlog checkpoints, signed and verified with Ed25519. */
#ifndef PDGATE_NOTE_H
#define PDGATE_NOTE_H
#include <stddef.h>
#include <stdint.h>

/* A note is refused past this size or this many signature lines (C2SP asks for at least 16). */
#define NOTE_MAX_SIZE (1024 * 1024)
#define NOTE_MAX_SIGS 100
/* Signature type byte of Ed25519 (c2sp.org/signed-note), part of the key id and the vkey. */
#define NOTE_ED25519 0x01
/* Signature type of Ed25519 cosignatures (c2sp.org/tlog-cosignature, cosignature/v1). */
#define NOTE_COSIG_ED25519 0x04
#define NOTE_ROOT_LEN 32

enum note_err {
	NOTE_OK = 0,
	NOTE_EMALFORMED = -1,  /* not a well-formed note, checkpoint or text */
	NOTE_EBADSIG = -2,     /* a signature by a known key does not verify */
	NOTE_EUNVERIFIED = -3, /* no signature by any known key */
	NOTE_EKEY = -4,        /* unusable key, key name or verifier key string */
	NOTE_ENOMEM = -5,
	NOTE_ECRYPTO = -6, /* OpenSSL failed */
};

/* A static string naming the error; never NULL. */
const char *note_strerror(int err);

/* Signs with an Ed25519 private key. Opaque; the key is wiped when freed. */
struct note_signer;
/* Checks signatures of one Ed25519 key. Opaque. */
struct note_verifier;

/* A signer named name (non-empty, no Unicode space, no '+', no control character) from an
 * Ed25519 private key in PEM (pem[0..len), borrowed; an encrypted key is refused, never prompted
 * for). NULL on any error. Caller frees with note_signer_free. */
struct note_signer *note_signer_new(const char *name, const char *pem, size_t len);
void note_signer_free(struct note_signer *s);

/* The same for a cosigner (key type NOTE_COSIG_ED25519): it makes cosignature/v1 lines with
 * note_cosign, its vkey is of type 0x04, and note_sign refuses it (NOTE_EKEY). A cosigner's key
 * must be its own: the cosignature/v1 message does not name the cosigner. */
struct note_signer *note_cosigner_new(const char *name, const char *pem, size_t len);

/* The verifier key "<name>+<8 hex digits key id>+<base64(type || public key)>", type 0x01 or,
 * for a cosigner, 0x04; without a newline. NULL if out of memory; caller frees. */
char *note_signer_vkey(const struct note_signer *s);

/* Parses a verifier key string (vkey[0..len), no newline); the key id in it must be the one its
 * name and key give. NULL if malformed or not Ed25519. Caller frees with note_verifier_free. */
struct note_verifier *note_verifier_new(const char *vkey, size_t len);

/* The same for a cosigner's verifier key, of type 0x04 only. note_checkpoint_open refuses it
 * among the known keys (NOTE_EKEY); note_cosig_check and note_cosig_verify take only these. */
struct note_verifier *note_cosigner_verifier_new(const char *vkey, size_t len);
void note_verifier_free(struct note_verifier *v);

/* The key's name (borrowed, NUL-terminated). */
const char *note_verifier_name(const struct note_verifier *v);

/* Signs text[0..len): non-empty, ending in "\n", valid UTF-8 without control characters other
 * than newline. *out is the note "text\n— name base64(id || signature)\n", NUL-terminated,
 * *out_len its length; caller frees. 0 or an error. Safe to call from several threads at once. */
int note_sign(const struct note_signer *s, const char *text, size_t len, char **out,
              size_t *out_len);

/* A checkpoint's three lines (c2sp.org/tlog-checkpoint). */
struct note_checkpoint {
	const char *origin; /* borrowed from the parsed text, origin_len bytes, no NUL */
	size_t origin_len;
	uint64_t size;
	uint8_t root[NOTE_ROOT_LEN];
};

/* The checkpoint text "<origin>\n<size>\n<base64 root>\n" (origin non-empty, UTF-8, no control
 * character), NUL-terminated into *out (caller frees), *out_len its length. 0 or an error. */
int note_checkpoint_format(const char *origin, uint64_t size, const uint8_t root[NOTE_ROOT_LEN],
                           char **out, size_t *out_len);

/*
 * Opens the signed checkpoint msg[0..len) with the known keys (borrowed). The note: signatures
 * by keys not in known (by name and id together) are ignored; every signature by a known key
 * must verify (else NOTE_EBADSIG) and at least one must be there (else NOTE_EUNVERIFIED); a
 * note over NOTE_MAX_SIZE, not UTF-8, with a control character other than newline, without
 * signature lines or with a badly formed one, or with more than NOTE_MAX_SIGS is
 * NOTE_EMALFORMED. The signed text: origin, size in decimal without leading zeros, base64 of a
 * 32-byte root, then any non-empty extension lines, which are ignored (else NOTE_EMALFORMED);
 * the origin must equal the name of a known key whose signature verified. cp->origin points
 * into msg. 0 or an error.
 */
int note_checkpoint_open(const char *msg, size_t len, struct note_verifier *const *known,
                         size_t n_known, struct note_checkpoint *cp);

/* The length of the signed text of note msg[0..len): up to and with the newline before the last
 * blank line; 0 if it has none. For a note already opened, where its body ends. */
size_t note_text_len(const char *msg, size_t len);

/*
 * A cosignature/v1 line of cosigner s for the checkpoint body[0..len) (the note's text: origin,
 * size, root, extension lines, ending in "\n", no signature line) at POSIX time ts (at most
 * 2^63 - 1): Ed25519 over "cosignature/v1\ntime <ts>\n" || body, the line
 * "— <name> base64(key id || big-endian u64 ts || signature)\n", NUL-terminated into *out
 * (caller frees), *out_len its length. NOTE_EKEY if s is not a cosigner, NOTE_EMALFORMED if body
 * is not a checkpoint's text. Safe to call from several threads at once.
 */
int note_cosign(const struct note_signer *s, const char *body, size_t len, uint64_t ts, char **out,
                size_t *out_len);

/* What note_cosig_check found of one known cosigner. */
struct note_cosig {
	int valid;     /* a cosignature by it verified */
	uint64_t time; /* its timestamp (the latest, if it signed more than once) */
};

/*
 * The cosignatures on the signed checkpoint msg[0..len) by the known cosigners (borrowed, each
 * of type 0x04, else NOTE_EKEY): found[k] (n_known entries) says whether known[k] cosigned and
 * when, *n_valid how many did. The note is read by note_checkpoint_open's rules and bounds;
 * lines by keys not known (the log's own signature, other witnesses) are ignored; a line by a
 * known cosigner (name and key id) must be 76 bytes (else NOTE_EMALFORMED), carry a timestamp
 * of at most 2^63 - 1 (else NOTE_EMALFORMED) and verify over the exact body (else NOTE_EBADSIG).
 * No known cosignature at all is NOTE_OK with *n_valid 0. The log's signature is not checked
 * here: open the note with note_checkpoint_open too. *cp as there. 0 or an error.
 */
int note_cosig_check(const char *msg, size_t len, struct note_verifier *const *known,
                     size_t n_known, struct note_checkpoint *cp, struct note_cosig *found,
                     size_t *n_valid);

/* Checks the signature lines lines[0..lines_len) (as a witness answers add-checkpoint: one or
 * more lines, each ending in "\n") against cosigner v for checkpoint body[0..len) (the note's
 * text, no blank line). NOTE_OK with the timestamp in *ts; NOTE_EUNVERIFIED if no line is v's
 * (lines of other keys are ignored); NOTE_EBADSIG or NOTE_EMALFORMED as note_cosig_check. */
int note_cosig_verify(const struct note_verifier *v, const char *body, size_t len,
                      const char *lines, size_t lines_len, uint64_t *ts);

#endif
