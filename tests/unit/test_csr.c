/* test_csr — certificate signing requests made here with OpenSSL, good and bad, through csr_check.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

#include "check.h"
#include "csr.h"

/* A request for key, subject CN=cn, signed with md (NULL: the key's own, Ed25519). */
static X509_REQ *
request(EVP_PKEY *key, const char *cn, const EVP_MD *md)
{
	X509_REQ *req = X509_REQ_new();
	X509_NAME *name = X509_NAME_new();

	if (req == NULL || name == NULL ||
	    X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8, (const unsigned char *)cn, -1, -1,
	                               0) != 1 ||
	    X509_REQ_set_subject_name(req, name) != 1 || X509_REQ_set_pubkey(req, key) != 1 ||
	    X509_REQ_sign(req, key, md) <= 0) {
		X509_NAME_free(name);
		X509_REQ_free(req);
		return NULL;
	}
	X509_NAME_free(name);
	return req;
}

/* The request as DER or PEM into buf (malloc'd), its length in *len. */
static unsigned char *
encode(X509_REQ *req, int pem, size_t *len)
{
	unsigned char *out = NULL;

	if (pem) {
		BIO *b = BIO_new(BIO_s_mem());
		char *p;
		long n;
		if (b == NULL || PEM_write_bio_X509_REQ(b, req) != 1 ||
		    (n = BIO_get_mem_data(b, &p)) <= 0 || (out = malloc((size_t)n)) == NULL) {
			BIO_free(b);
			return NULL;
		}
		memcpy(out, p, (size_t)n);
		*len = (size_t)n;
		BIO_free(b);
		return out;
	}
	int n = i2d_X509_REQ(req, &out);
	if (n <= 0)
		return NULL;
	*len = (size_t)n;
	return out;
}

static EVP_PKEY *
key_ec(const char *curve)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "EC", curve);
}

static EVP_PKEY *
key_rsa(size_t bits)
{
	return EVP_PKEY_Q_keygen(NULL, NULL, "RSA", bits);
}

/* How a case alters the request's bytes. */
enum how {
	AS_PEM,
	AS_DER,
	BAD_SIGNATURE, /* a byte of the DER signature flipped */
	TRAILING,      /* DER with a byte after it */
	TEXT_AROUND,   /* PEM with lines before and after */
	TWO_BLOCKS,    /* PEM twice */
	TRUNCATED,     /* DER cut short */
	VERSION_2,     /* the version field set to 1 (v2) and re-signed */
};

static void
test_requests(void)
{
	EVP_PKEY *p256 = key_ec("P-256"), *p384 = key_ec("P-384"), *p521 = key_ec("P-521");
	EVP_PKEY *p224 = key_ec("P-224"), *rsa2048 = key_rsa(2048), *rsa1024 = key_rsa(1024);
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	const struct {
		const char *what;
		EVP_PKEY *key;
		const EVP_MD *md;
		enum how how;
		enum csr_result want;
		const char *says; /* in err, when refused */
	} rows[] = {
	    {"EC P-256, PEM", p256, EVP_sha256(), AS_PEM, CSR_OK, NULL},
	    {"EC P-256, DER", p256, EVP_sha256(), AS_DER, CSR_OK, NULL},
	    {"EC P-384, SHA-384", p384, EVP_sha384(), AS_PEM, CSR_OK, NULL},
	    {"RSA-2048", rsa2048, EVP_sha256(), AS_PEM, CSR_OK, NULL},
	    {"RSA-2048, SHA-512", rsa2048, EVP_sha512(), AS_DER, CSR_OK, NULL},
	    {"text around the block", p256, EVP_sha256(), TEXT_AROUND, CSR_OK, NULL},
	    {"RSA-1024", rsa1024, EVP_sha256(), AS_PEM, CSR_KEY_REFUSED, "RSA key of 1024 bits"},
	    {"EC P-521", p521, EVP_sha256(), AS_PEM, CSR_KEY_REFUSED, "curve secp521r1"},
	    {"EC P-224", p224, EVP_sha256(), AS_PEM, CSR_KEY_REFUSED, "curve secp224r1"},
	    {"Ed25519", ed, NULL, AS_PEM, CSR_KEY_REFUSED, "type ED25519"},
	    {"SHA-1", p256, EVP_sha1(), AS_PEM, CSR_WEAK_DIGEST, "ecdsa-with-SHA1"},
	    {"RSA with SHA-1", rsa2048, EVP_sha1(), AS_DER, CSR_WEAK_DIGEST, "RSA-SHA1"},
	    {"a flipped signature byte", p256, EVP_sha256(), BAD_SIGNATURE, CSR_BAD_SIGNATURE,
	     "does not verify"},
	    {"RSA, a flipped signature byte", rsa2048, EVP_sha256(), BAD_SIGNATURE,
	     CSR_BAD_SIGNATURE, "does not verify"},
	    {"a byte after the DER", p256, EVP_sha256(), TRAILING, CSR_NOT_A_CSR, "neither PEM"},
	    {"two PEM blocks", p256, EVP_sha256(), TWO_BLOCKS, CSR_NOT_A_CSR, "more than one"},
	    {"truncated DER", p256, EVP_sha256(), TRUNCATED, CSR_NOT_A_CSR, "not a certificate"},
	    {"version 2", p256, EVP_sha256(), VERSION_2, CSR_BAD_VERSION, "version 2"},
	};

	CHECK(p256 && p384 && p521 && p224 && rsa2048 && rsa1024 && ed, "keys");
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		X509_REQ *req =
		    rows[i].key ? request(rows[i].key, "other-partner", rows[i].md) : NULL;
		unsigned char *data = NULL, *buf = NULL;
		size_t len = 0;
		EVP_PKEY *got = NULL;
		char err[512] = "";

		CHECK(req != NULL, "%s: request made", rows[i].what);
		if (req == NULL)
			continue;
		if (rows[i].how == VERSION_2) {
			X509_REQ_set_version(req, 1);
			X509_REQ_sign(req, rows[i].key, rows[i].md);
		}
		data = encode(req,
		              rows[i].how == AS_PEM || rows[i].how == TEXT_AROUND ||
		                  rows[i].how == TWO_BLOCKS,
		              &len);
		CHECK(data != NULL, "%s: encoded", rows[i].what);
		if (data == NULL) {
			X509_REQ_free(req);
			continue;
		}
		buf = malloc(2 * len + 64);
		switch (rows[i].how) {
		case BAD_SIGNATURE:
			data[len - 8] ^= 0x20; /* inside the signature, the last field */
			break;
		case TRAILING:
			memcpy(buf, data, len);
			buf[len] = 0;
			free(data);
			data = buf;
			buf = NULL;
			len++;
			break;
		case TEXT_AROUND: {
			int n = snprintf((char *)buf, 64, "Certificate Request:\n  Data: ...\n");
			memcpy(buf + n, data, len);
			memcpy(buf + n + len, "trailer\n", 8);
			free(data);
			data = buf;
			buf = NULL;
			len += (size_t)n + 8;
			break;
		}
		case TWO_BLOCKS:
			memcpy(buf, data, len);
			memcpy(buf + len, data, len);
			free(data);
			data = buf;
			buf = NULL;
			len *= 2;
			break;
		case TRUNCATED:
			len -= 20;
			break;
		default:
			break;
		}
		enum csr_result r = csr_check(data, len, &got, err, sizeof err);
		CHECK(r == rows[i].want, "%s: %s (%d), want %d: %s", rows[i].what, csr_strerror(r),
		      r, rows[i].want, err);
		if (rows[i].want == CSR_OK)
			CHECK(got != NULL && EVP_PKEY_eq(got, rows[i].key) == 1,
			      "%s: the request's key comes back", rows[i].what);
		else
			CHECK(got == NULL && strstr(err, rows[i].says) != NULL,
			      "%s: no key, and the message '%s' says '%s'", rows[i].what, err,
			      rows[i].says);
		EVP_PKEY_free(got);
		free(data);
		free(buf);
		X509_REQ_free(req);
	}
	EVP_PKEY_free(p256);
	EVP_PKEY_free(p384);
	EVP_PKEY_free(p521);
	EVP_PKEY_free(p224);
	EVP_PKEY_free(rsa2048);
	EVP_PKEY_free(rsa1024);
	EVP_PKEY_free(ed);
}

/* Inputs that are not requests at all, and the size bound. */
static void
test_bytes(void)
{
	static const char cert_block[] =
	    "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
	static const char broken_pem[] = "-----BEGIN CERTIFICATE REQUEST-----\n!!!!\n"
	                                 "-----END CERTIFICATE REQUEST-----\n";
	const struct {
		const char *what;
		const unsigned char *data;
		size_t len;
		enum csr_result want;
	} rows[] = {
	    {"nothing", (const unsigned char *)"", 0, CSR_NOT_A_CSR},
	    {"text", (const unsigned char *)"hello\n", 6, CSR_NOT_A_CSR},
	    {"a certificate block", (const unsigned char *)cert_block, sizeof cert_block - 1,
	     CSR_NOT_A_CSR},
	    {"broken base64", (const unsigned char *)broken_pem, sizeof broken_pem - 1,
	     CSR_NOT_A_CSR},
	    {"a lone SEQUENCE", (const unsigned char *)"\x30\x00", 2, CSR_NOT_A_CSR},
	};
	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		EVP_PKEY *key = NULL;
		char err[256] = "";
		enum csr_result r = csr_check(rows[i].data, rows[i].len, &key, err, sizeof err);
		CHECK(r == rows[i].want && key == NULL && err[0] != '\0', "%s: %d (%s)",
		      rows[i].what, r, err);
	}
	unsigned char *big = calloc(1, CSR_MAX_BYTES + 1);
	EVP_PKEY *key = NULL;
	char err[256] = "";
	CHECK(big != NULL &&
	          csr_check(big, CSR_MAX_BYTES + 1, &key, err, sizeof err) == CSR_TOO_LARGE &&
	          key == NULL && strstr(err, "at most") != NULL,
	      "one byte over CSR_MAX_BYTES: %s", err);
	free(big);
	for (int r = CSR_OK; r <= CSR_WEAK_DIGEST; r++)
		CHECK(strcmp(csr_strerror((enum csr_result)r), "unknown") != 0, "csr_strerror(%d)",
		      r);
}

int
main(void)
{
	test_requests();
	test_bytes();
	ERR_clear_error();
	return check_done();
}
