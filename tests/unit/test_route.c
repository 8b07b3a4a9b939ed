/* Tests of route: matching paths to patterns, and what the log may say of a path. */
#include <string.h>

#include "check.h"
#include "route.h"

static const char *const patterns[] = {
    "/v1/whoami", "/v1/members/{}", "/v1/members", "/v1/reports/subject/{}", "/",
};
#define NPATTERNS (sizeof patterns / sizeof patterns[0])

static void
test_match(void)
{
	static const struct {
		const char *pattern, *path;
		int want;
		unsigned nparams;
		const char *param0;
	} rows[] = {
	    {"/v1/whoami", "/v1/whoami", 1, 0, NULL},
	    {"/v1/whoami", "/v1/whoami/", 0, 0, NULL},
	    {"/v1/whoami", "//v1/whoami", 0, 0, NULL},
	    {"/v1/whoami", "/V1/whoami", 0, 0, NULL},
	    {"/v1/members/{}", "/v1/members/M1", 1, 1, "M1"},
	    {"/v1/members/{}", "/v1/members/", 0, 0, NULL},
	    {"/v1/members/{}", "/v1/members", 0, 0, NULL},
	    {"/v1/members/{}", "/v1/members/M1/x", 0, 0, NULL},
	    {"/v1/members/{}", "/v1//members/M1", 0, 0, NULL},
	    {"/v1/members/{}", "http://h/v1/members/M1", 0, 0, NULL},
	    {"/{}/{}/{}/{}", "/a/b/c/d", 1, 4, "a"},
	    {"/{}/{}/{}/{}/{}", "/a/b/c/d/e", 0, 0, NULL},
	    {"/", "/", 1, 0, NULL},
	    {"/", "", 0, 0, NULL},
	};
	char params[ROUTE_MAX_PARAMS][ROUTE_PARAM_MAX + 1];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		unsigned n = 99;
		int got = route_match(rows[i].pattern, rows[i].path, params, &n);
		CHECK(got == rows[i].want, "%s ~ %s: %d", rows[i].pattern, rows[i].path, got);
		if (got == 1) {
			CHECK(n == rows[i].nparams, "%s: %u params", rows[i].path, n);
			if (rows[i].param0 != NULL)
				CHECK(strcmp(params[0], rows[i].param0) == 0, "%s: param %s",
				      rows[i].path, params[0]);
		}
		CHECK(route_match(rows[i].pattern, rows[i].path, NULL, NULL) == got,
		      "%s: the same without outputs", rows[i].path);
	}
	char longseg[ROUTE_PARAM_MAX + 32] = "/v1/members/";
	memset(longseg + 12, 'M', ROUTE_PARAM_MAX + 1);
	longseg[12 + ROUTE_PARAM_MAX + 1] = '\0';
	CHECK(route_match("/v1/members/{}", longseg, params, NULL) == -1, "an over-long segment");
	longseg[12 + ROUTE_PARAM_MAX] = '\0';
	CHECK(route_match("/v1/members/{}", longseg, params, NULL) == 1, "the longest segment");
}

/* No shape may hold anything of the path but words our patterns spell. */
static void
test_log_shape(void)
{
	static const struct {
		const char *path, *want;
	} rows[] = {
	    {"/v1/members/M0000001", "/v1/members/{}"}, /* a 405: the route's pattern */
	    {"/v1/whoami", "/v1/whoami"},
	    {"//v1/members/M0000001", "/..."},
	    {"/v1/./members/M0000001", "/v1/..."},
	    {"/V1/members/M0000001", "/..."},
	    {"/v1//members/M0000001", "/v1/..."},
	    {"http://127.0.0.1/v1/members/M0000001", "/..."},
	    {"/v1/members/M0000001/", "/v1/members/..."},
	    {"/v1/members/M0000001/x", "/v1/members/..."},
	    {"/v1/members/M0000001%00", "/v1/members/{}"},
	    {"/v1/members//M0000001", "/v1/members/..."},
	    {"//v1/reports/subject/M0000001", "/..."},
	    {"/v1/reports/subject/M0000001/x", "/v1/reports/subject/..."},
	    {"/v1/log-probe", "/v1/..."},
	    {"/v1", "/v1"},
	    {"M0000001", "/..."},
	    {"", "/..."},
	    {"/", "/"},
	};
	char out[64];

	for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++) {
		route_log_shape(patterns, NPATTERNS, rows[i].path, out, sizeof out);
		CHECK(strcmp(out, rows[i].want) == 0, "%s: logged as %s, want %s", rows[i].path,
		      out, rows[i].want);
		CHECK(strstr(out, "M0000001") == NULL, "%s: the id in %s", rows[i].path, out);
	}
	/* a small buffer: the shape shrinks to the placeholder, never to a cut id */
	char tiny[8];
	route_log_shape(patterns, NPATTERNS, "/v1/reports/subject/M1/x", tiny, sizeof tiny);
	CHECK(strcmp(tiny, "/...") == 0, "a shape that does not fit: %s", tiny);
}

int
main(void)
{
	test_match();
	test_log_shape();
	return check_done();
}
