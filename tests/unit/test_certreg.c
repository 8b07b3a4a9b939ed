/* test_certreg — the register of issued certificates on a small installation made here: the first
 * filling from pki/, rows added and removed, revocation from the CRLs, what the summary watches. */
#include <ftw.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/x509v3.h>
#include <sqlite3.h>

#include "check.h"
#include "fixture_pki.h"
#include "certreg.h"
#include "certwatch.h"
#include "pki_crl.h"

static char dir[64];

static char *
at(const char *name)
{
	char *p = NULL;

	if (asprintf(&p, "%s/%s", dir, name) < 0)
		abort();
	return p;
}

static char warned[4096];

static void
warn(void *arg, const char *message)
{
	(void)arg;
	size_t n = strlen(warned);
	snprintf(warned + n, sizeof warned - n, "%s\n", message);
}

/* The rows of the register, or NULL; *n their number. */
static struct certreg_row *
rows_of(struct certreg *r, size_t *n, int *rc)
{
	struct certreg_row *rows = NULL;
	char err[512];

	*rc = certreg_list(r, &rows, n, err, sizeof err);
	return rows;
}

static const struct certreg_row *
find(const struct certreg_row *rows, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(rows[i].name, name) == 0)
			return &rows[i];
	return NULL;
}

static X509 *
load(const char *rel)
{
	char err[256], *p = at(rel);
	X509 *x = pki_cert_read(p, err, sizeof err);

	free(p);
	return x;
}

int
main(void)
{
	char err[512];
	X509 *pca = NULL, *sca = NULL, *vca = NULL;
	EVP_PKEY *pkey = NULL, *skey = NULL, *vkey = NULL;
	struct certreg *r = NULL;
	struct certreg_row *rows = NULL;
	size_t n = 0;
	int rc;

	snprintf(dir, sizeof dir, "/tmp/test_certreg.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return 1;
	char *pki = at("pki"), *partners = at("pki/partners"), *staff = at("pki/staff");
	mkdir(pki, 0700);
	mkdir(partners, 0755);
	mkdir(staff, 0755);
	char *pca_p = at("pki/partner-ca"), *sca_p = at("pki/staff-ca"),
	     *vca_p = at("pki/server-ca");
	CHECK(pki_make_ca(pca_p, "test partner CA", 1, &pca, &pkey, err, sizeof err) == 0 &&
	          pki_make_ca(sca_p, "test staff CA", 1, &sca, &skey, err, sizeof err) == 0 &&
	          pki_make_ca(vca_p, "test server CA", 0, &vca, &vkey, err, sizeof err) == 0,
	      "CAs: %s", err);
	if (pca == NULL || sca == NULL || vca == NULL)
		goto done;
	char *a = at("pki/partners/alpha"), *b = at("pki/partners/beta"),
	     *o = at("pki/staff/officer");
	char *srv = at("pki/server"), *stray = at("pki/partners/stray");
	CHECK(pki_make_leaf(a, PKI_PROFILE_PARTNER, "alpha", pca, pkey, 397, NULL, err,
	                    sizeof err) == 0 &&
	          pki_make_leaf(b, PKI_PROFILE_PARTNER, "beta", pca, pkey, 10, NULL, err,
	                        sizeof err) == 0 &&
	          pki_make_leaf(o, PKI_PROFILE_STAFF, "officer", sca, skey, 397, NULL, err,
	                        sizeof err) == 0 &&
	          pki_make_leaf(srv, PKI_PROFILE_SERVER, "localhost", vca, vkey, 20, NULL, err,
	                        sizeof err) == 0 &&
	          /* a staff certificate filed among the partners: not the partner CA's */
	          pki_make_leaf(stray, PKI_PROFILE_STAFF, "stray", sca, skey, 397, NULL, err,
	                        sizeof err) == 0,
	      "leaves: %s", err);

	struct config cfg;
	memset(&cfg, 0, sizeof cfg);
	cfg.dir = dir;
	cfg.gateway.state = at("state.db");
	cfg.partner.client_ca = at("pki/partner-ca.pem");
	cfg.partner.crl = at("pki/partner-ca.crl");
	cfg.partner.cert = at("pki/server.pem");
	cfg.compliance.cert = at("pki/server.pem");
	cfg.compliance.staff_ca = at("pki/staff-ca.pem");
	cfg.compliance.staff_crl = at("pki/staff-ca.crl");

	/* A state database that exists without the register: an installation from before it. */
	sqlite3 *db = NULL;
	CHECK(sqlite3_open(cfg.gateway.state, &db) == SQLITE_OK &&
	          sqlite3_exec(db, "CREATE TABLE suspensions(partner TEXT)", NULL, NULL, NULL) ==
	              SQLITE_OK,
	      "an older state database");
	sqlite3_close(db);

	r = certreg_open(&cfg, warn, NULL, err, sizeof err);
	CHECK(r != NULL, "open: %s", err);
	if (r == NULL)
		goto done;
	rows = rows_of(r, &n, &rc);
	CHECK(rc == 0 && n == 4, "filled with the 4 certificates of the installation: %zu (%d)", n,
	      rc);
	CHECK(strstr(warned, "stray.pem: not a certificate of this installation's partner CA") !=
	          NULL,
	      "the stray file is skipped and said so: '%s'", warned);
	const struct certreg_row *ra = find(rows, n, "alpha"), *rs = find(rows, n, "officer");
	const struct certreg_row *rv = find(rows, n, "localhost,127.0.0.1,::1");
	CHECK(ra && ra->kind == CERTREG_PARTNER && strcmp(ra->how, "found") == 0 &&
	          ra->issued_at == 0 && ra->revoked == 0 && ra->file &&
	          strstr(ra->file, "alpha.pem"),
	      "alpha's row");
	CHECK(rs && rs->kind == CERTREG_STAFF, "officer's row");
	CHECK(rv && rv->kind == CERTREG_SERVER, "the server's row, named by its SANs");
	CHECK(ra && ra->not_after - ra->not_before == 397 * 86400 + 300, "alpha's validity");
	X509 *alpha = load("pki/partners/alpha.pem");
	char fp[PKI_FINGERPRINT_LEN], serial[PKI_SERIAL_HEX_LEN];
	CHECK(alpha && pki_fingerprint(alpha, fp) == 0 && pki_serial_hex(alpha, serial) == 0 &&
	          ra && strcmp(ra->sha256, fp) == 0 && strcmp(ra->serial, serial) == 0,
	      "alpha's serial and fingerprint");
	certreg_rows_free(rows, n);
	rows = NULL;
	certreg_close(r);

	/* Opened again, the register is not filled again: a new file is not picked up. */
	char *g = at("pki/partners/gamma");
	CHECK(pki_make_leaf(g, PKI_PROFILE_PARTNER, "gamma", pca, pkey, 397, NULL, err,
	                    sizeof err) == 0,
	      "gamma");
	r = certreg_open(&cfg, warn, NULL, err, sizeof err);
	CHECK(r != NULL, "open again: %s", err);
	if (r == NULL)
		goto done;
	rows = rows_of(r, &n, &rc);
	CHECK(n == 4 && find(rows, n, "gamma") == NULL, "filled once only");
	certreg_rows_free(rows, n);
	rows = NULL;

	/* Adding and removing. */
	X509 *gamma = load("pki/partners/gamma.pem");
	struct certreg_row row;
	CHECK(gamma && certreg_row_of(gamma, CERTREG_PARTNER, "issue", "/x/gamma.pem", &row, err,
	                              sizeof err) == 0,
	      "gamma's row: %s", err);
	CHECK(certreg_add(r, &row, err, sizeof err) == 0, "added: %s", err);
	CHECK(certreg_add(r, &row, err, sizeof err) < 0 && strstr(err, "already in the register"),
	      "twice refused: %s", err);
	rows = rows_of(r, &n, &rc);
	const struct certreg_row *rg = find(rows, n, "gamma");
	CHECK(n == 5 && rg && strcmp(rg->how, "issue") == 0 && rg->issued_at > 0 &&
	          strcmp(rg->file, "/x/gamma.pem") == 0,
	      "gamma listed as issued");
	certreg_rows_free(rows, n);
	rows = NULL;
	CHECK(certreg_remove(r, CERTREG_PARTNER, row.serial, err, sizeof err) == 0, "removed");
	rows = rows_of(r, &n, &rc);
	CHECK(n == 4 && find(rows, n, "gamma") == NULL, "gamma gone");
	certreg_rows_free(rows, n);
	rows = NULL;
	certreg_row_clear(&row);
	CHECK(certreg_row_of(gamma, CERTREG_STAFF, "issue", NULL, &row, err, sizeof err) < 0 &&
	          strstr(err, "names no staff"),
	      "a partner certificate is no staff row: %s", err);
	certreg_row_clear(&row);

	/* Revocation comes from the CRL; a CRL that does not load makes it unknown. */
	CHECK(alpha && pki_crl_revoke(cfg.partner.crl, pca, pkey, alpha, 30, NULL, err,
	                              sizeof err) == PKI_REVOKE_DONE,
	      "alpha revoked: %s", err);
	rows = rows_of(r, &n, &rc);
	ra = find(rows, n, "alpha");
	const struct certreg_row *rb = find(rows, n, "beta");
	CHECK(rc == 0 && ra && ra->revoked == 1 && rb && rb->revoked == 0,
	      "alpha revoked, beta not");
	certreg_rows_free(rows, n);
	rows = NULL;
	char *saved = cfg.partner.crl;
	cfg.partner.crl = at("pki/staff-ca.crl"); /* signed by the wrong CA */
	rows = rows_of(r, &n, &rc);
	rb = find(rows, n, "beta");
	rs = find(rows, n, "officer");
	CHECK(rc == 1 && rb && rb->revoked == -1 && rs && rs->revoked == 0,
	      "a partner CRL of another CA: partner revocations unknown, staff known");
	certreg_rows_free(rows, n);
	rows = NULL;
	free(cfg.partner.crl);
	cfg.partner.crl = saved;
	certreg_close(r);
	r = NULL;

	/* What the summary watches: not alpha (revoked), beta, officer, the server, two CRLs. */
	struct certreg_watch *w = certreg_watch(&cfg, err, sizeof err);
	CHECK(w != NULL, "watch: %s", err);
	if (w != NULL) {
		const struct certwatch *c = certreg_watch_certs(w);
		int npartner = 0, staffs = 0, servers = 0, crls = 0, alpha_seen = 0;
		for (size_t i = 0; i < c->n; i++) {
			const struct certwatch_item *x = &c->v[i];
			npartner += x->kind == CERTWATCH_PARTNER;
			staffs += x->kind == CERTWATCH_STAFF;
			servers += x->kind == CERTWATCH_SERVER;
			crls += x->kind == CERTWATCH_CRL;
			alpha_seen += x->name && strcmp(x->name, "alpha") == 0;
			CHECK(x->problem == NULL && x->ends > 0, "item %zu ends", i);
		}
		CHECK(npartner == 1 && staffs == 1 && servers == 1 && crls == 2 && !alpha_seen,
		      "watched: %d partners, %d staff, %d servers, %d CRLs", npartner, staffs,
		      servers, crls);
		certreg_watch_free(w);
	}
	/* A configured server certificate that does not read is watched with its problem. */
	free(cfg.compliance.cert);
	cfg.compliance.cert = at("pki/nonexistent.pem");
	w = certreg_watch(&cfg, err, sizeof err);
	if (w != NULL) {
		const struct certwatch *c = certreg_watch_certs(w);
		int problems = 0;
		for (size_t i = 0; i < c->n; i++)
			problems += c->v[i].problem != NULL && c->v[i].kind == CERTWATCH_SERVER &&
			            strstr(c->v[i].problem, "nonexistent.pem") != NULL;
		CHECK(problems == 1,
		      "the unreadable server certificate is listed with its problem");
		certreg_watch_free(w);
	}

	X509_free(alpha);
	X509_free(gamma);
	free(g);
	free(a);
	free(b);
	free(o);
	free(srv);
	free(stray);
	free(cfg.gateway.state);
	free(cfg.partner.client_ca);
	free(cfg.partner.crl);
	free(cfg.partner.cert);
	free(cfg.compliance.cert);
	free(cfg.compliance.staff_ca);
	free(cfg.compliance.staff_crl);
done:
	certreg_rows_free(rows, n);
	certreg_close(r);
	X509_free(pca);
	X509_free(sca);
	X509_free(vca);
	EVP_PKEY_free(pkey);
	EVP_PKEY_free(skey);
	EVP_PKEY_free(vkey);
	free(pki);
	free(partners);
	free(staff);
	free(pca_p);
	free(sca_p);
	free(vca_p);
	nftw(dir, fixture_rm, 16, FTW_DEPTH | FTW_PHYS);
	return check_done();
}
