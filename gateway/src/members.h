/* members — the synthetic member database of a demo installation. */
#ifndef PDGATE_MEMBERS_H
#define PDGATE_MEMBERS_H

#include <stddef.h>

/* Upper bound for n: keeps a run to minutes and the My Number permutation far from its domain. */
#define MEMBERS_MAX 100000000UL

/*
 * Creates a new SQLite database at db_path (refused if the path exists: O_EXCL, mode 0600, as
 * it holds personal data) with the table of SPEC section 6,
 *   members(member_id TEXT PRIMARY KEY, record TEXT NOT NULL),
 * and n synthetic members M0000001..Mnnnnnnn (seven digits, more when n needs them), each record
 * compact UTF-8 JSON in the shape and key order of SPEC section 5. The same (n, seed) always
 * gives the same bytes, and a run with a larger n starts with the same members as a smaller one.
 * The database is in WAL mode when n > 0, in rollback mode when it is empty (n = 0).
 * On failure nothing is left at db_path. Returns 0, or -1 with a message in err.
 *
 * What the records look like (shares are per member, drawn independently unless said):
 * - names: about 100 common family names, weighted toward the most common, and about 100
 *   female and 100 male given names, each with its katakana reading; gender follows the given
 *   name: female 68 %, male 31 % (the association's schools are mostly attended by women), and
 *   "unspecified" 1 % (declined to answer; the given name is then from either list).
 * - birth_date 1940-01-01..2007-12-31, triangular around the early 1970s; membership.joined
 *   2005-01-01..2026-03-31 and never before the member's 18th birthday. Every date is real and
 *   fixed by the seed, never by the clock: 2026-03-31 is the snapshot day of the data.
 * - address: all 47 prefectures, weighted by their 2020 census population, a few real cities
 *   each with their real leading three postal-code digits (the last four are drawn) and real
 *   town names; street "<town><chome>-<ban>-<go>"; building 45 % ("メゾン神宮前101"), else null.
 * - phone: mobile 090/080/070 and eight digits (090-1234-5678) 85 %, else a landline with the
 *   prefecture capital's area code, ten digits in all (03-1234-5678, 052-123-4567,
 *   0776-12-3456).
 * - email: ASCII from the passport-style romanized name, at example.jp, example.com or
 *   example.ne.jp only (never a real domain).
 * - photo: https://members.example/photos/<member_id>.jpg with 64 lowercase hex digits.
 * - my_number: 12 digits with a valid check digit, distinct for every member (a keyed
 *   permutation of the member's index, not a random draw that could collide).
 * - membership: grade regular 60 %, silver 22 %, gold 13 %, platinum 5 %; status active 90 %,
 *   withdrawn 8 %, suspended 2 %.
 * - courses: 0..4 of ten courses (0: 25 %, 1: 35 %, 2: 20 %, 3: 12 %, 4: 8 %), basics completed
 *   before the advanced ones, after joining; certifications: 0..2, each only after its course,
 *   numbered "<year issued>-<5-digit serial of that year>".
 * - consents: marketing true 60 %, survey true 50 %, third_party_provision true 20 %; a fifth
 *   of the latter (4 % of all) also list "CT-2026-0005" in consented.
 * - restrictions: stop_use 1 %, stop_third_party 3 % (independent of the consents, as a request
 *   to stop can come after a consent).
 */
int members_generate(const char *db_path, unsigned long n, unsigned long seed, char *err,
                     size_t errlen);

#endif
