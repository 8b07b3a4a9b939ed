/* Tests of admission: the two budgets, fair shares by address, who is closed to make room. */
#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>

#include "admission.h"
#include "check.h"

static struct sockaddr_storage
v4(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in *sin = (struct sockaddr_in *)&ss;

	memset(&ss, 0, sizeof ss);
	sin->sin_family = AF_INET;
	inet_pton(AF_INET, text, &sin->sin_addr);
	return ss;
}

static struct sockaddr_storage
v6(const char *text)
{
	struct sockaddr_storage ss;
	struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	sin6->sin6_family = AF_INET6;
	inet_pton(AF_INET6, text, &sin6->sin6_addr);
	return ss;
}

#define SA(ss) ((const struct sockaddr *)&(ss))

static bool
allow(const struct admission *a, struct sockaddr_storage ss)
{
	return admission_allow(a, SA(ss));
}

/* Adds a connection; returns the index of the slot closed to make room, -1 for none. */
static int
add(struct admission *a, struct admission_slot *slots, int i, struct sockaddr_storage ss)
{
	struct admission_slot *ev;

	memset(&slots[i], 0, sizeof slots[i]);
	if (admission_add(a, &slots[i], SA(ss), &ev) != 0)
		return -2;
	return ev == NULL ? -1 : (int)(ev - slots);
}

static void
test_budgets(void)
{
	struct admission *a = admission_new(2, 4);
	struct admission_slot s[16];
	struct sockaddr_storage p = v4("127.0.0.1");

	for (int i = 0; i < 3; i++)
		CHECK(add(a, s, i, p) == -1, "room for connection %d", i);
	CHECK(admission_pending(a) == 3, "three pending: %u", admission_pending(a));
	CHECK(admission_trust(a, &s[0]) && admission_trust(a, &s[1]), "two trusted");
	CHECK(!admission_trust(a, &s[2]), "the trusted budget is full");
	CHECK(s[2].state == ADMISSION_PENDING, "the third stays pending");
	CHECK(admission_trust(a, &s[0]), "trusting a trusted slot again is fine");
	CHECK(admission_trusted(a) == 2 && admission_pending(a) == 1, "2 trusted, 1 pending");
	admission_remove(a, &s[0]);
	CHECK(admission_trusted(a) == 1, "a trusted slot leaves");
	CHECK(admission_trust(a, &s[2]), "and the pending one takes its place");
	admission_remove(a, &s[2]);
	admission_remove(a, &s[2]);
	CHECK(admission_trusted(a) == 1 && s[2].state == ADMISSION_NONE, "remove twice is a no-op");
	admission_remove(a, &s[1]);
	CHECK(admission_trusted(a) == 0 && admission_pending(a) == 0, "all gone");
	admission_free(a);
	admission_free(NULL);
}

/* Eight addresses fill the pending budget; a ninth address always gets in. */
static void
test_flood(void)
{
	enum { N = 64 };
	struct admission *a = admission_new(64, N);
	struct admission_slot s[N + 8] = {0};
	struct sockaddr_storage att[8], partner = v4("127.0.0.1");
	char text[32];
	int i = 0;

	for (int k = 0; k < 8; k++) {
		snprintf(text, sizeof text, "127.0.0.%d", k + 2);
		att[k] = v4(text);
	}
	for (; i < N; i++)
		CHECK(add(a, s, i, att[i % 8]) == -1, "room for attacker connection %d", i);
	CHECK(admission_pending(a) == N, "the pending budget is full");
	for (int k = 0; k < 8; k++)
		CHECK(!allow(a, att[k]), "attacker address %d is refused at accept", k);
	CHECK(allow(a, partner), "the partner's address is admitted");
	int ev = add(a, s, i, partner);
	CHECK(ev == 0, "the oldest connection of a heaviest address makes room: %d", ev);
	CHECK(admission_pending(a) == N, "the budget holds: %u", admission_pending(a));
	CHECK(admission_trust(a, &s[i]), "the partner is trusted once verified");
	i++;
	/* a second partner connection, while the attackers still hold their share */
	CHECK(allow(a, partner), "the partner's address is still below its share");
	CHECK(add(a, s, i, partner) == -1, "the trusted one left the pending budget: room");
	CHECK(s[i].state == ADMISSION_PENDING, "the new one is pending");
	i++;
	ev = add(a, s, i, partner);
	CHECK(ev > 0 && ev < N, "a third: another attacker connection makes room: %d", ev);
	admission_free(a);
}

/* An address that holds more than the others loses first, oldest first. */
static void
test_victim(void)
{
	struct admission *a = admission_new(8, 4);
	struct admission_slot s[8];
	struct sockaddr_storage x = v4("10.0.0.1"), y = v4("10.0.0.2"), z = v4("10.0.0.3");

	CHECK(add(a, s, 0, x) == -1 && add(a, s, 1, y) == -1, "x, y");
	CHECK(add(a, s, 2, y) == -1 && add(a, s, 3, y) == -1, "y holds 3 of 4");
	CHECK(!allow(a, y), "y is over its share");
	CHECK(allow(a, x), "x is below its share");
	CHECK(add(a, s, 4, x) == 1, "x's second connection closes y's oldest");
	CHECK(add(a, s, 5, z) == 0, "x and y hold 2 each: the oldest of theirs, x's first, goes");
	admission_free(a);
}

/* IPv6 counts by /64; IPv4-mapped addresses count as their IPv4 address. */
static void
test_v6(void)
{
	struct admission *a = admission_new(8, 2);
	struct admission_slot s[4];

	CHECK(add(a, s, 0, v6("2001:db8:1:2::1")) == -1, "first of the /64");
	CHECK(add(a, s, 1, v6("2001:db8:1:2::ffff")) == -1, "second of the /64");
	CHECK(!allow(a, v6("2001:db8:1:2:abcd::9")), "the /64 is one address");
	CHECK(allow(a, v6("2001:db8:1:3::1")), "the next /64 is another");
	admission_remove(a, &s[1]);
	admission_remove(a, &s[0]);
	CHECK(add(a, s, 0, v4("192.0.2.7")) == -1 && add(a, s, 1, v4("192.0.2.8")) == -1, "v4");
	CHECK(!allow(a, v6("::ffff:192.0.2.7")), "mapped is the same as v4");
	admission_free(a);
}

int
main(void)
{
	test_budgets();
	test_flood();
	test_victim();
	test_v6();
	return check_done();
}
