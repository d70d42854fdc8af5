/*
 * merge — the merge loop shared by SentencePiece and BPE.
 *
 * A word starts as one symbol per character (or per byte, for byte
 * fallback) in a doubly linked list. Every adjacent pair that may merge is a
 * candidate in a binary heap ordered by priority (SentencePiece: the score
 * of the merged token, higher first; BPE: the merge rank, lower first), ties
 * going to the leftmost pair, which is what llama2.c's rescan, llama.cpp
 * and Hugging Face all do. Popping the best candidate merges the pair and
 * pushes the two new pairs it forms with its neighbours. Candidates made
 * stale by earlier merges are recognised on pop and dropped: the combined
 * length of a live symbol and its right neighbour only ever grows, so a
 * candidate whose recorded length no longer matches is out of date.
 * Each merge costs O(log n), so a megabyte-long word (SentencePiece works
 * on whole segments) encodes in well under a second.
 */
#include "tokenizer/internal.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/utf8.h"

struct msym {
	int32_t prev, next;     /* -1 at the ends */
	uint32_t start, len;    /* bytes of the word; len 0 = merged away */
	int32_t id;             /* token, or -1 (SentencePiece: an unknown character) */
};

struct mcand {
	double prio;            /* higher first */
	uint32_t left;          /* index of the left symbol: smaller first on ties */
	uint32_t len;           /* left.len + right.len when pushed */
	int32_t id;             /* the merged token */
};

struct merge_scratch {
	struct msym *sym;
	size_t sym_cap;
	struct mcand *heap;
	size_t heap_n, heap_cap;
};

void merge_scratch_free(struct merge_scratch *s)
{
	if (!s)
		return;
	free(s->sym);
	free(s->heap);
	free(s);
}

static int before(const struct mcand *a, const struct mcand *b)
{
	return a->prio > b->prio || (a->prio == b->prio && a->left < b->left);
}

static int heap_push(struct merge_scratch *s, struct mcand c)
{
	size_t i;

	if (ALLOC_GROW(s->heap, s->heap_n + 1, s->heap_cap))
		return -1;
	i = s->heap_n++;
	while (i > 0) {
		size_t parent = (i - 1) / 2;
		if (!before(&c, &s->heap[parent]))
			break;
		s->heap[i] = s->heap[parent];
		i = parent;
	}
	s->heap[i] = c;
	return 0;
}

static struct mcand heap_pop(struct merge_scratch *s)
{
	struct mcand top = s->heap[0], last = s->heap[--s->heap_n];
	size_t i = 0, n = s->heap_n;

	for (;;) {
		size_t child = 2 * i + 1;
		if (child >= n)
			break;
		if (child + 1 < n && before(&s->heap[child + 1], &s->heap[child]))
			child++;
		if (!before(&s->heap[child], &last))
			break;
		s->heap[i] = s->heap[child];
		i = child;
	}
	if (n)
		s->heap[i] = last;
	return top;
}

/* Push the pair (l, r) if the model allows merging it. */
static int try_pair(const struct tokenizer *t, struct merge_scratch *s, const char *w,
		    int32_t l, int32_t r)
{
	const struct msym *a, *b;
	struct mcand c;

	if (l < 0 || r < 0)
		return 0;
	a = &s->sym[l];
	b = &s->sym[r];
	if (t->algo == TOK_ALGO_SCORED) {
		c.id = vocab_find(&t->vocab, w + a->start, (size_t)a->len + b->len);
		if (c.id < 0)
			return 0;
		c.prio = t->vocab.score[c.id];
	} else {
		uint32_t rank;
		if (a->id < 0 || b->id < 0 || !merge_table_find(&t->merges, a->id, b->id, &rank, &c.id))
			return 0;
		c.prio = -(double)rank;
	}
	c.left = (uint32_t)l;
	c.len = a->len + b->len;
	return heap_push(s, c);
}

static int add_sym(struct merge_scratch *s, size_t *n, size_t start, size_t len, int32_t id)
{
	if (ALLOC_GROW(s->sym, *n + 1, s->sym_cap))
		return -1;
	s->sym[*n] = (struct msym){ .start = (uint32_t)start, .len = (uint32_t)len, .id = id };
	(*n)++;
	return 0;
}

static int bytes_have_tokens(const struct tokenizer *t, const unsigned char *u, int k)
{
	for (int b = 0; b < k; b++)
		if (t->byte_tok[u[b]] < 0)
			return 0;
	return 1;
}

/* One symbol per character; what an unknown character becomes depends on
 * the model (see the cases). */
static int initial_symbols(const struct tokenizer *t, struct merge_scratch *s, const char *w,
			   size_t len, size_t *n, struct ada_err *err)
{
	const unsigned char *u = (const unsigned char *)w;
	int last_was_unk = 0;

	*n = 0;
	for (size_t i = 0; i < len;) {
		uint32_t cp;
		int k = utf8_decode(u + i, len - i, &cp);
		int32_t id;

		if (k <= 0)
			return ada_fail(err, ADA_EINVAL, "invalid UTF-8 inside a word");
		id = vocab_find(&t->vocab, w + i, (size_t)k);
		if (id >= 0 || t->algo == TOK_ALGO_SCORED) {
			/* SentencePiece keeps an unknown character as text: it
			 * may still merge, and falls back to bytes at the end. */
			if (add_sym(s, n, i, (size_t)k, id))
				goto oom;
			last_was_unk = 0;
		} else if (t->byte_fallback && bytes_have_tokens(t, u + i, k)) {
			for (int b = 0; b < k; b++)
				if (add_sym(s, n, i + (size_t)b, 1, t->byte_tok[u[i + b]]))
					goto oom;
			last_was_unk = 0;
		} else if (t->unk >= 0) {
			if (t->fuse_unk && last_was_unk) {
				s->sym[*n - 1].len += (uint32_t)k;
			} else if (add_sym(s, n, i, (size_t)k, t->unk)) {
				goto oom;
			}
			last_was_unk = 1;
		} else {
			return ada_fail(err, ADA_EINVAL,
					"%s: no token for U+%04X and no unknown token to stand for it",
					t->source, cp);
		}
		i += (size_t)k;
	}
	for (size_t i = 0; i < *n; i++) {
		s->sym[i].prev = (int32_t)i - 1;
		s->sym[i].next = i + 1 < *n ? (int32_t)i + 1 : -1;
	}
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

/* SentencePiece: a symbol that is no token is spelled in byte tokens (or
 * one <unk> when the vocabulary has no byte tokens). */
static int emit_unknown(const struct tokenizer *t, const char *w, const struct msym *sym,
			struct word_out *wo, struct ada_err *err)
{
	const unsigned char *u = (const unsigned char *)w + sym->start;
	const size_t n0 = wo->out->n, o0 = wo->offs ? wo->offs->n : 0;

	for (uint32_t b = 0; b < sym->len; b++) {
		if (t->byte_tok[u[b]] < 0)
			goto no_bytes;
		if (word_out_push(wo, t->byte_tok[u[b]], sym->start + b, 1))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	return ADA_OK;
no_bytes:
	wo->out->n = n0;
	if (wo->offs)
		wo->offs->n = o0;
	if (t->unk < 0)
		return ada_fail(err, ADA_EINVAL, "%s: no byte token <0x%02X> and no unknown token",
				t->source, u[0]);
	if (word_out_push(wo, t->unk, sym->start, sym->len))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	return ADA_OK;
}

int word_out_push(struct word_out *wo, int32_t id, size_t start, size_t len)
{
	struct tspan c = { 0, 0 };

	if (ivec_push(wo->out, id))
		return -1;
	if (!wo->offs)
		return 0;
	if (wo->sp && len)
		c = span_cover(wo->sp + start, len);
	else if (wo->sp)
		c = (struct tspan){ wo->sp[start].s, wo->sp[start].s };
	if (ivec_push(wo->offs, (int32_t)c.s) || ivec_push(wo->offs, (int32_t)c.e)) {
		wo->out->n--;
		return -1;
	}
	return 0;
}

int merge_word(const struct tokenizer *t, const char *w, size_t len,
	       struct merge_scratch **scratch, struct word_out *wo, struct ada_err *err)
{
	struct merge_scratch *s = *scratch;
	size_t n;
	int rc;

	if (!len)
		return ADA_OK;
	if (len >= UINT32_MAX)
		return ada_fail(err, ADA_EINVAL, "a single word of %zu bytes is too long", len);
	if (t->ignore_merges) {
		int32_t id = vocab_find(&t->vocab, w, len);
		if (id >= 0)
			return word_out_push(wo, id, 0, len) ? ada_fail(err, ADA_ENOMEM, "out of memory")
							     : ADA_OK;
	}
	if (!s) {
		s = *scratch = xcalloc(1, sizeof(*s));
		if (!s)
			return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	rc = initial_symbols(t, s, w, len, &n, err);
	if (rc)
		return rc;

	s->heap_n = 0;
	for (size_t i = 0; i + 1 < n; i++)
		if (try_pair(t, s, w, (int32_t)i, (int32_t)i + 1))
			goto oom;
	while (s->heap_n) {
		struct mcand c = heap_pop(s);
		struct msym *l = &s->sym[c.left], *r;

		if (!l->len || l->next < 0)
			continue;
		r = &s->sym[l->next];
		if (l->len + r->len != c.len)
			continue;      /* stale: one side has merged since */
		l->len += r->len;
		l->id = c.id;
		r->len = 0;
		l->next = r->next;
		if (r->next >= 0)
			s->sym[r->next].prev = (int32_t)c.left;
		if (try_pair(t, s, w, l->prev, (int32_t)c.left) ||
		    try_pair(t, s, w, (int32_t)c.left, l->next))
			goto oom;
	}

	for (int32_t i = 0; i >= 0 && n; i = s->sym[i].next) {
		const struct msym *sym = &s->sym[i];
		if (sym->id >= 0) {
			if (word_out_push(wo, sym->id, sym->start, sym->len))
				goto oom;
		} else if ((rc = emit_unknown(t, w, sym, wo, err))) {
			return rc;
		}
	}
	return ADA_OK;
oom:
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}
