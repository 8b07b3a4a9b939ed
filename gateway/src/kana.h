/* kana — a katakana reading romanized, passport-style Hepburn (the synthetic members' e-mail
 * addresses). */
#ifndef PDGATE_KANA_H
#define PDGATE_KANA_H

#include <stddef.h>

/*
 * Romanizes a katakana reading into out (lowercase ASCII): ッ doubles the next consonant, ャュョ
 * fuse with the syllable before, ン before b/m/p is m, and a long vowel (ウ after an o- or
 * u-sound, オ after an o-sound, ー) is dropped unless a vowel follows: サトウ → sato,
 * ユウコ → yuko, イノウエ → inoue. Returns 0, or -1 if kana holds anything else (or nothing)
 * or out is short.
 */
int kana_romanize(const char *kana, char *out, size_t outlen);

#endif
