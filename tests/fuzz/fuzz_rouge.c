/*
 * fuzz_rouge — ROUGE on arbitrary texts (data/rouge.c, data/porter.c): a
 * sequence-to-sequence job scores its validation references, which come
 * from an uploaded file, and `adalora rouge` reads its files with
 * seq2seq_texts_read (net/seq2seq_eval.c).
 *
 * Input: byte 0 bit 0 turns the stemmer on; the rest is a prediction and,
 * after FUZZ_SEP, a reference (any bytes: invalid UTF-8 included).
 *
 * Checked:
 *   - every score is in [0, 1] and F = 2PR / (P + R) (0 when P + R = 0);
 *   - ROUGE-1, -2 and -L are symmetric: swapping the texts swaps P and R;
 *   - a text scored against itself gets 1 everywhere, when it has a token
 *     (ROUGE-2: a bigram), else 0;
 *   - the texts file reader accepts or refuses the bytes with an error
 *     naming the file, and what it accepts scores without error.
 */
#include "fuzz.h"

#include <math.h>
#include <string.h>

#include "adalora.h"
#include "data/rouge.h"
#include "net/seq2seq_eval.h"

static struct rouge_work work;

void fuzz_setup(void)
{
}

static void check_score(const char *what, const struct ada_rouge_score *s)
{
	double f;

	FUZZ_CHECK(s->precision >= 0 && s->precision <= 1 && s->recall >= 0 && s->recall <= 1,
		   "%s: P %g R %g outside [0, 1]", what, s->precision, s->recall);
	f = s->precision + s->recall > 0 ? 2 * s->precision * s->recall / (s->precision + s->recall) : 0;
	FUZZ_CHECK(s->fmeasure == f, "%s: F %.17g is not 2PR/(P+R) = %.17g", what, s->fmeasure, f);
}

static void check_swapped(const char *what, const struct ada_rouge_score *a, const struct ada_rouge_score *b)
{
	FUZZ_CHECK(a->precision == b->recall && a->recall == b->precision,
		   "%s is not symmetric: P %g R %g, swapped P %g R %g", what, a->precision, a->recall,
		   b->precision, b->recall);
}

static void check_self(const char *what, const struct ada_rouge_score *s, int has_unit)
{
	double want = has_unit ? 1.0 : 0.0;

	FUZZ_CHECK(s->precision == want && s->recall == want && s->fmeasure == want,
		   "%s of a text against itself: P %g R %g F %g, expected %g", what, s->precision, s->recall,
		   s->fmeasure, want);
}

static void score_pair(const struct fuzz_part *p, const struct fuzz_part *r, int stem)
{
	struct ada_rouge a, b, self;
	struct ada_err err;

	if (rouge_pair(&work, (const char *)p->data, p->size, (const char *)r->data, r->size, stem, &a, &err)) {
		fuzz_check_err(&err);
		FUZZ_CHECK(err.code == ADA_ENOMEM, "rouge_pair failed: %s", err.msg);
		return;
	}
	check_score("rouge1", &a.rouge1);
	check_score("rouge2", &a.rouge2);
	check_score("rougeL", &a.rougeL);
	check_score("rougeLsum", &a.rougeLsum);
	if (!rouge_pair(&work, (const char *)r->data, r->size, (const char *)p->data, p->size, stem, &b,
			&err)) {
		check_swapped("rouge1", &a.rouge1, &b.rouge1);
		check_swapped("rouge2", &a.rouge2, &b.rouge2);
		check_swapped("rougeL", &a.rougeL, &b.rougeL);
	}
	if (!rouge_pair(&work, (const char *)p->data, p->size, (const char *)p->data, p->size, stem, &self,
			&err)) {
		/* the prediction's token count: its unigram P denominator is
		 * max(count, 1), and against itself the overlap is the count */
		int tokens = self.rouge1.fmeasure > 0;

		check_self("rouge1", &self.rouge1, tokens);
		check_self("rougeL", &self.rougeL, tokens);
		check_self("rougeLsum", &self.rougeLsum, tokens);
		/* a bigram needs two tokens: rouge2 is 1 or 0 */
		FUZZ_CHECK(self.rouge2.fmeasure == 0 || self.rouge2.fmeasure == 1, "self rouge2 %g",
			   self.rouge2.fmeasure);
		FUZZ_CHECK(tokens || self.rouge2.fmeasure == 0, "a text without tokens has a bigram");
	}
}

static void read_texts(const struct fuzz_part *p, int stem)
{
	const char *path = fuzz_write("texts", p->data, p->size);
	struct ada_err err;
	struct ada_rouge r;
	char **texts;
	size_t n;

	if (seq2seq_texts_read(path, &texts, &n, &err)) {
		fuzz_check_err(&err);
		FUZZ_CHECK(strstr(err.msg, path) != NULL, "the error names no file: %s", err.msg);
		return;
	}
	if (ada_rouge((const char *const *)texts, (const char *const *)texts, n, stem, &r, &err))
		FUZZ_CHECK(err.code == ADA_ENOMEM, "ada_rouge failed: %s", err.msg);
	else
		FUZZ_CHECK(n == 0 || (r.rougeL.fmeasure >= 0 && r.rougeL.fmeasure <= 1), "mean rougeL %g",
			   r.rougeL.fmeasure);
	seq2seq_texts_free(texts, n);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_part parts[2];
	int stem;

	if (size < 1)
		return 0;
	stem = data[0] & 1;
	fuzz_split(data + 1, size - 1, parts, 2);
	score_pair(&parts[0], &parts[1], stem);
	read_texts(&parts[0], stem);
	return 0;
}
