/*
 * porter — the Porter stemmer as ROUGE's reference implementation uses it.
 *
 * Google's rouge-score stems with nltk's PorterStemmer() in its default
 * mode, NLTK_EXTENSIONS: M. F. Porter's 1980 algorithm (steps 1a to 5b,
 * the measure m of [C](VC)^m[V], *v*, *d and *o) with the departures that
 * mode makes, each written where it applies in porter.c:
 *   - a pool of irregular forms stemmed by table (skies -> sky, dying ->
 *     die, news -> news, ...); words of one or two letters are left alone;
 *   - 1a: four-letter "ies" -> "ie" (dies -> die); 1b: "ied" -> "ie" in four
 *     letters, else "i" (died -> die, spied -> spi);
 *   - 1c: y -> i only after a consonant that is not the word's first
 *     letter (happy -> happi, enjoy and sky stay);
 *   - 2: "alli" -> "al" first, the result going through step 2 again;
 *     "bli" -> "ble" (not "abli"); "fulli" -> "ful"; "logi" -> "log" with m
 *     of the stem that keeps the "l";
 *   - *o also holds for a two-letter vowel-consonant stem;
 *   - in each step the first listed suffix the word ends with decides: its
 *     condition failing leaves the word as it is (as Porter's own code).
 * Input: lower-case ASCII letters and digits (ROUGE's tokens); the stem
 * is never longer than the word.
 */
#ifndef ADA_DATA_PORTER_H
#define ADA_DATA_PORTER_H

#include <stddef.h>

/* Stem w[0..len) in place; returns the stem's length (<= len). */
size_t porter_stem(char *w, size_t len);

#endif
