/*
 * vocab — the token table and the two hash lookups the merge loop lives on.
 *
 * Text -> id answers "is this merged string a token?" (SentencePiece) and
 * "which token is this character?" (every model); (left id, right id) ->
 * (rank, merged id) answers "may these two merge, and how urgently?" (BPE).
 * Both are open-addressing tables sized at load to at most half full, so a
 * lookup is a hash and a probe or two; encoding a megabyte of text makes a
 * few million of them.
 */
#include "tokenizer/internal.h"

#include <float.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"

static uint64_t mix64(uint64_t h)
{
	h ^= h >> 33;
	h *= 0xff51afd7ed558ccdull;
	h ^= h >> 33;
	h *= 0xc4ceb9fe1a85ec53ull;
	h ^= h >> 33;
	return h;
}

static uint64_t hash_bytes(const char *s, size_t len)
{
	uint64_t h = 0x9e3779b97f4a7c15ull ^ len, x;

	while (len >= 8) {
		memcpy(&x, s, 8);
		h = mix64(h ^ x);
		s += 8;
		len -= 8;
	}
	x = 0;
	memcpy(&x, s, len);
	return mix64(h ^ x);
}

/* A power of two >= 2 * n (load factor <= 1/2); 0 on overflow. */
static size_t table_size(size_t n)
{
	size_t sz = 16;

	while (sz < n * 2) {
		if (sz > SIZE_MAX / 4)
			return 0;
		sz *= 2;
	}
	return sz;
}

int vocab_init(struct vocab *v, int32_t n)
{
	memset(v, 0, sizeof(*v));
	if (n <= 0)
		return -1;
	v->n = n;
	v->off = xcalloc((size_t)n + 1, sizeof(*v->off));
	v->score = xcalloc((size_t)n, sizeof(*v->score));
	v->type = xcalloc((size_t)n, sizeof(*v->type));
	if (!v->off || !v->score || !v->type || strbuf_reserve(&v->text, 1)) {
		vocab_release(v);
		return -1;
	}
	return 0;
}

int vocab_add(struct vocab *v, const char *s, size_t len, float score, uint8_t type)
{
	int32_t id = v->filled;

	if (id >= v->n || strbuf_add(&v->text, s, len))
		return -1;
	/* A NaN score would make the merge heap's order meaningless. */
	v->score[id] = score == score ? score : -FLT_MAX;
	v->type[id] = type;
	v->off[id + 1] = v->text.n;
	v->filled++;
	return 0;
}

static int matchable(uint8_t type)
{
	return type == TOKT_NORMAL || type == TOKT_USER;
}

int vocab_index(struct vocab *v)
{
	size_t sz = table_size((size_t)v->n);

	if (!sz || v->filled != v->n)
		return -1;
	v->slot = xcalloc(sz, sizeof(*v->slot));
	if (!v->slot)
		return -1;
	for (size_t i = 0; i < sz; i++)
		v->slot[i].id = -1;
	v->mask = sz - 1;
	for (int32_t id = 0; id < v->n; id++) {
		size_t len, i;
		const char *s = vocab_text(v, id, &len);
		uint64_t h = hash_bytes(s, len);

		if (!matchable(v->type[id]) || !len)
			continue;
		for (i = h & v->mask; v->slot[i].id >= 0; i = (i + 1) & v->mask) {
			size_t olen;
			const char *o = vocab_text(v, v->slot[i].id, &olen);
			if (olen == len && !memcmp(o, s, len))
				break;   /* duplicate text: the later id wins */
		}
		v->slot[i].id = id;
		v->slot[i].hash = (uint32_t)(h >> 32);
	}
	return 0;
}

int32_t vocab_find(const struct vocab *v, const char *s, size_t len)
{
	uint64_t h = hash_bytes(s, len);
	uint32_t tag = (uint32_t)(h >> 32);

	for (size_t i = h & v->mask; v->slot[i].id >= 0; i = (i + 1) & v->mask) {
		int32_t id = v->slot[i].id;
		size_t olen;

		if (v->slot[i].hash != tag)
			continue;
		olen = v->off[id + 1] - v->off[id];
		if (olen == len && !memcmp(v->text.p + v->off[id], s, len))
			return id;
	}
	return -1;
}

static int hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	return -1;
}

int vocab_byte_value(const char *s, size_t len)
{
	int hi, lo;

	if (len != 6 || memcmp(s, "<0x", 3) || s[5] != '>')
		return -1;
	hi = hexval(s[3]);
	lo = hexval(s[4]);
	return hi < 0 || lo < 0 ? -1 : hi * 16 + lo;
}

void vocab_release(struct vocab *v)
{
	strbuf_release(&v->text);
	free(v->off);
	free(v->score);
	free(v->type);
	free(v->slot);
	memset(v, 0, sizeof(*v));
}

static uint64_t pair_key(int32_t a, int32_t b)
{
	return (((uint64_t)(uint32_t)a << 32) | (uint32_t)b) + 1;
}

int merge_table_init(struct merge_table *m, size_t n_merges)
{
	size_t sz = table_size(n_merges);

	memset(m, 0, sizeof(*m));
	if (!sz)
		return -1;
	m->slot = xcalloc(sz, sizeof(*m->slot));
	if (!m->slot)
		return -1;
	m->mask = sz - 1;
	return 0;
}

void merge_table_add(struct merge_table *m, int32_t a, int32_t b, uint32_t rank, int32_t result)
{
	uint64_t key = pair_key(a, b);
	size_t i;

	for (i = mix64(key) & m->mask; m->slot[i].key; i = (i + 1) & m->mask)
		if (m->slot[i].key == key)
			return;        /* an earlier, better-ranked merge of the same pair */
	m->slot[i] = (struct merge_slot){ .key = key, .rank = rank, .result = result };
}

int merge_table_find(const struct merge_table *m, int32_t a, int32_t b,
		     uint32_t *rank, int32_t *result)
{
	uint64_t key = pair_key(a, b);

	if (!m->slot)
		return 0;
	for (size_t i = mix64(key) & m->mask; m->slot[i].key; i = (i + 1) & m->mask) {
		if (m->slot[i].key == key) {
			*rank = m->slot[i].rank;
			*result = m->slot[i].result;
			return 1;
		}
	}
	return 0;
}

void merge_table_release(struct merge_table *m)
{
	free(m->slot);
	memset(m, 0, sizeof(*m));
}
