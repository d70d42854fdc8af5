/*
 * rouge — ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum as Google's rouge-score
 * package computes them (RougeScorer(["rouge1", "rouge2", "rougeL",
 * "rougeLsum"], use_stemmer)), one prediction against one reference.
 *
 *   tokens     Python's str.lower() (for the result: A-Z, and U+212A
 *              KELVIN SIGN to "k", U+0130 to "i" and a separator), every
 *              run of characters other than [a-z0-9] a separator; with the
 *              stemmer, tokens of more than 3 characters Porter-stemmed
 *              (porter.h, nltk's default mode)
 *   rouge1/2   n-gram overlap with multiplicity: the sum over n-grams of
 *              min(count in prediction, count in reference); precision
 *              over the prediction's n-grams, recall over the reference's
 *              (each divided by at least 1)
 *   rougeL     the longest common subsequence of the two token lists
 *   rougeLsum  summary level: texts split into sentences on "\n"; for each
 *              reference sentence the union of its LCS with every
 *              prediction sentence (rouge-score's backtrack picks which
 *              LCS), each union token counted while both texts still have
 *              an unused copy of it
 *   F          2PR / (P + R), 0 when P + R = 0; every score 0 when a text
 *              has no tokens
 * The texts are UTF-8 bytes (other bytes are separators, as the characters
 * they would be); LCS costs O(|prediction| x |reference|) time.
 */
#ifndef ADA_DATA_ROUGE_H
#define ADA_DATA_ROUGE_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"

/* Buffers reused from pair to pair (zero-initialise; rouge_work_release). */
struct rouge_work {
	char *text;          /* token characters, lower-cased and stemmed */
	size_t text_len, text_cap;
	uint32_t *tok[2];    /* token ids of the prediction [0] and reference [1] */
	uint32_t *line[2];   /* the sentence (line) of each token */
	size_t n_tok[2], tok_cap[2], line_cap[2];
	uint32_t *slot;      /* open-addressing table of token ids (UINT32_MAX = empty) */
	struct rouge_str {
		uint32_t off, len;
	} *strs;             /* id -> its characters in text */
	size_t slot_cap, n_ids, strs_cap;
	uint64_t *grams[2];  /* sorted n-grams */
	size_t gram_cap[2];
	uint32_t *lcs;       /* LCS table */
	size_t lcs_cap;
	uint32_t *cnt[2];    /* token counts for rougeLsum */
	uint8_t *mark;       /* union-LCS members of a reference sentence */
	size_t cnt_cap[2], mark_cap;
};

void rouge_work_release(struct rouge_work *w);

/* No scores: every number NAN, n 0 (what an evaluation without decodes reports). */
void rouge_clear(struct ada_rouge *r);

/* The scores of one pair into out (out->n = 1). */
int rouge_pair(struct rouge_work *w, const char *pred, size_t pred_len, const char *ref, size_t ref_len,
	       int use_stemmer, struct ada_rouge *out, struct ada_err *err);

#endif
