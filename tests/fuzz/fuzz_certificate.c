/* fuzz_certificate — bytes as a client's DER certificate chain, through tlsauth_verify. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/asn1.h>
#include <openssl/evp.h>

#include "tlsauth.h"

/*
 * A fixed partner CA and its CRL (valid until 2126, revoking serial 0x0101), so that the seed
 * certificates in corpus/fuzz_certificate (leaves it signed: good, revoked, serverAuth only, no
 * EKU, two partner SANs; one from another CA, with and without that CA sent along) reach every
 * branch of the verification, not only the parser.
 */
static const char ca_pem[] = "-----BEGIN CERTIFICATE-----\n"
                             "MIIBiDCCAS6gAwIBAgIUJdnSeRH5AHUnMoBq0Z0n36g9XUUwCgYIKoZIzj0EAwIw\n"
                             "ITEfMB0GA1UEAwwWcGRnYXRlIGZ1enogcGFydG5lciBDQTAgFw0yNjExMjcyMzQ1\n"
                             "NTRaGA8yMTI2MTEwMzIzNDU1NFowITEfMB0GA1UEAwwWcGRnYXRlIGZ1enogcGFy\n"
                             "dG5lciBDQTBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IABIbaeXlzdvjt5rXoJzQh\n"
                             "/Gok8+Lz++r8pzUm5vSVQi/tYMikguJsVw/UDWwgfYatyDOlQC7JWtp3s0pto8kj\n"
                             "SCWjQjBAMA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgEGMB0GA1UdDgQW\n"
                             "BBTc7DFqucMJ9AMhUS6G9CL/QIrVBjAKBggqhkjOPQQDAgNIADBFAiEAksGlF+1i\n"
                             "E5K9VYY27F+XNd98o5p+QOaP/kIEUeNBNw0CIHg9zhrN87Z3id3K/nq6UJRnfHnj\n"
                             "NxyXGuXaPzsCaKAo\n"
                             "-----END CERTIFICATE-----\n";

static const char crl_pem[] = "-----BEGIN X509 CRL-----\n"
                              "MIG+MGYwCgYIKoZIzj0EAwIwITEfMB0GA1UEAwwWcGRnYXRlIGZ1enogcGFydG5l\n"
                              "ciBDQRcNMjYxMTI3MjM0NTU0WhgPMjEyNjExMDMyMzQ1NTRaMBUwEwICAQEXDTI2\n"
                              "MTEyNzIzNDU1NFowCgYIKoZIzj0EAwIDSAAwRQIhAMjzP673QCMRxG0UmymOUa+T\n"
                              "/4aqqdEJUA22nqG+7L+1AiB1XDL61Fssz6uh+DYKzqEaf622Ls83L0xtZfgOvBfw\n"
                              "Ig==\n"
                              "-----END X509 CRL-----\n";

static struct tlsauth *store;

static void
write_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");
	if (f == NULL || fputs(text, f) < 0 || fclose(f) != 0)
		abort();
}

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
	char dir[] = "/tmp/fuzz_certificate.XXXXXX", ca[64], crl[64], err[256];

	(void)argc;
	(void)argv;
	if (mkdtemp(dir) == NULL)
		abort();
	snprintf(ca, sizeof ca, "%s/ca.pem", dir);
	snprintf(crl, sizeof crl, "%s/ca.crl", dir);
	write_file(ca, ca_pem);
	write_file(crl, crl_pem);
	store = tlsauth_new(ca, crl, TLSAUTH_PARTNER_PREFIX, "partner", err, sizeof err);
	if (store == NULL) {
		fprintf(stderr, "fuzz_certificate: %s\n", err);
		abort();
	}
	unlink(ca);
	unlink(crl);
	rmdir(dir);
	return 0;
}

/* ^[a-z0-9][a-z0-9-]{0,62}$ */
static int
valid_id(const char *s)
{
	size_t n = strlen(s);
	if (n < 1 || n > 63 || s[0] == '-')
		return 0;
	return strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") == n;
}

/*
 * The input is split into certificates the way a TLS stack hands them over: one DER object
 * after another (by their ASN.1 lengths); what does not parse as a header goes in whole as the
 * last one.
 */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct tlsauth_der chain[TLSAUTH_MAX_CHAIN + 2];
	struct tlsauth_identity id;
	char err[256];
	size_t n = 0, off = 0;

	while (off < size && n < sizeof chain / sizeof chain[0]) {
		const unsigned char *p = data + off;
		long len = 0;
		int tag, cls;
		size_t rest = size - off, take = rest;
		int r = ASN1_get_object(&p, &len, &tag, &cls,
		                        (long)(rest > 0x7fffffff ? 0x7fffffff : rest));
		if (!(r & 0x80) && !(r & 0x21) && len >= 0) {
			size_t whole = (size_t)(p - (data + off)) + (size_t)len;
			if (whole > 0 && whole <= rest)
				take = whole;
		}
		chain[n].data = data + off;
		chain[n].len = take;
		n++;
		off += take;
	}

	enum apierr e = tlsauth_verify(store, chain, n, &id, err, sizeof err);
	if (e == APIERR_NONE) {
		/* What an accepted chain must satisfy, whatever the bytes. */
		unsigned char md[32];
		unsigned int mdlen = 0;
		if (n == 0 || n > TLSAUTH_MAX_CHAIN || !valid_id(id.id) ||
		    EVP_Digest(chain[0].data, chain[0].len, md, &mdlen, EVP_sha256(), NULL) != 1 ||
		    memcmp(md, id.x5t, sizeof md) != 0 || strlen(id.fingerprint) != 64)
			abort();
	} else if (e != APIERR_CERTIFICATE_INVALID && e != APIERR_CLIENT_CERTIFICATE_REQUIRED) {
		abort();
	} else if (err[0] == '\0' || id.id[0] != '\0') {
		abort();
	}
	return 0;
}
