/*
 * unigram — the Unigram language model's segmentation (SentencePiece's
 * model_type UNIGRAM; Hugging Face's "Unigram" model): of all the ways to
 * cut a word into pieces of the vocabulary, the one whose pieces' scores
 * (log probabilities) sum highest.
 *
 * Viterbi over the word's character boundaries, as SentencePiece's
 * EncodeOptimized and Hugging Face's encode_optimized do it: for each start
 * position in order, every piece that begins there (shortest first)
 * offers best[start] + score to the position it ends at, which takes the
 * offer only when strictly better. So ties go to the earliest start, i.e.
 * the longer last piece, as both references decide them. A position that no
 * one-character piece starts from still gets an edge: the unknown
 * character, scored as the lowest normal piece minus 10 (SentencePiece's
 * kUnkPenalty). Only normal and user-defined pieces match text (control,
 * unused and byte pieces never do), as in SentencePiece.
 *
 * Unknown characters come out as their UTF-8 bytes (<0xAB> pieces) with
 * byte fallback, else as the unknown token, a run of them fused into one as
 * SentencePiece's encoder and Hugging Face's (fuse_unk) do.
 *
 * Pieces are looked up by hashing each candidate substring (vocab_find), up
 * to the longest piece in bytes: O(word x longest piece) lookups, a few
 * thousand for a paragraph.
 */
#include "tokenizer/internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

#define UNK_PENALTY 10.0

struct unigram_node {
	double score;        /* best path score ending here */
	uint32_t start;      /* where the last piece of that path starts */
	int32_t id;          /* that piece, or -1 for an unknown character */
	int set;
};

struct unigram_scratch {
	struct unigram_node *node;
	size_t cap;
	uint32_t *cut;       /* backtrack: piece starts, reversed */
	size_t cut_cap;
};

void unigram_scratch_free(struct unigram_scratch *s)
{
	if (!s)
		return;
	free(s->node);
	free(s->cut);
	free(s);
}

void unigram_init(struct tokenizer *t)
{
	double lo = DBL_MAX;
	size_t longest = 1;

	for (int32_t id = 0; id < t->vocab.n; id++) {
		size_t len;

		vocab_text(&t->vocab, id, &len);
		if (t->vocab.type[id] != TOKT_NORMAL && t->vocab.type[id] != TOKT_USER)
			continue;
		if (len > longest)
			longest = len;
		if (t->vocab.type[id] == TOKT_NORMAL && t->vocab.score[id] < lo)
			lo = t->vocab.score[id];
	}
	t->unk_score = (lo == DBL_MAX ? 0 : lo) - UNK_PENALTY;
	t->max_piece_bytes = longest;
	t->algo = TOK_ALGO_UNIGRAM;
}

static size_t char_len(const char *w, size_t len, size_t i)
{
	uint32_t cp;
	int k = utf8_decode((const unsigned char *)w + i, len - i, &cp);

	return k > 0 ? (size_t)k : 1;
}

static int offer(struct unigram_node *n, double score, size_t start, int32_t id)
{
	if (n->set && !(score > n->score))
		return 0;
	*n = (struct unigram_node){ score, (uint32_t)start, id, 1 };
	return 1;
}

static int bytes_known(const struct tokenizer *t, const char *w, size_t start, size_t len)
{
	for (size_t b = 0; b < len; b++)
		if (t->byte_tok[(unsigned char)w[start + b]] < 0)
			return 0;
	return 1;
}

/* Emit the pieces of the best path, in order. */
static int emit(const struct tokenizer *t, const char *w, size_t len, struct unigram_scratch *s,
		struct word_out *wo, struct ada_err *err)
{
	size_t n_cut = 0, unk_start = 0;
	int in_unk = 0;

	for (size_t end = len; end > 0; end = s->node[end].start) {
		if (ALLOC_GROW(s->cut, n_cut + 1, s->cut_cap))
			goto oom;
		s->cut[n_cut++] = (uint32_t)end;
	}
	for (size_t k = n_cut, start = 0; k-- > 0;) {
		const size_t end = s->cut[k];
		const int32_t id = s->node[end].id;

		if (id < 0 && t->byte_fallback && bytes_known(t, w, start, end - start)) {
			for (size_t b = start; b < end; b++)
				if (word_out_push(wo, t->byte_tok[(unsigned char)w[b]], b, 1))
					goto oom;
		} else if (id < 0) {
			if (!in_unk)
				unk_start = start;
			in_unk = 1;
			/* flush at the end of the run */
			if (k == 0 || s->node[s->cut[k - 1]].id >= 0 ||
			    (t->byte_fallback && bytes_known(t, w, end, s->cut[k - 1] - end))) {
				if (t->unk < 0)
					return ada_fail(err, ADA_EINVAL,
							"%s: a character no piece covers and no unknown token to stand for it",
							t->source);
				if (word_out_push(wo, t->unk, unk_start, end - unk_start))
					goto oom;
				in_unk = 0;
			}
		} else if (word_out_push(wo, id, start, end - start)) {
			goto oom;
		}
		start = end;
	}
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

int unigram_word(const struct tokenizer *t, const char *w, size_t len,
		 struct unigram_scratch **scratch, struct word_out *wo, struct ada_err *err)
{
	struct unigram_scratch *s = *scratch;

	if (!len)
		return ADA_OK;
	if (len >= UINT32_MAX)
		return ada_fail(err, ADA_EINVAL, "a single word of %zu bytes is too long", len);
	if (!s) {
		s = *scratch = xcalloc(1, sizeof(*s));
		if (!s)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (ALLOC_GROW(s->node, len + 1, s->cap))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memset(s->node, 0, (len + 1) * sizeof(*s->node));
	s->node[0].set = 1;
	for (size_t start = 0; start < len;) {
		const size_t first = char_len(w, len, start);
		const double base = s->node[start].score;
		int single = 0;

		/* every position is reachable: the unknown edge guarantees it */
		for (size_t end = start + first; end <= len && end - start <= t->max_piece_bytes;
		     end += char_len(w, len, end)) {
			int32_t id = vocab_find(&t->vocab, w + start, end - start);

			if (id >= 0) {
				offer(&s->node[end], base + t->vocab.score[id], start, id);
				single |= end == start + first;
			}
			if (end == len)
				break;
		}
		if (!single)
			offer(&s->node[start + first], base + t->unk_score, start, -1);
		start += first;
	}
	return emit(t, w, len, s, wo, err);
}
