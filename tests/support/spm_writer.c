/* spm_writer — spm.model and precompiled charsmaps for tests; see spm_writer.h. */
#include "spm_writer.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- protobuf ------------------------------------------------------------ */

static int varint(struct strbuf *b, uint64_t v)
{
	do {
		uint8_t c = v & 0x7f;
		v >>= 7;
		if (strbuf_addch(b, (char)(c | (v ? 0x80 : 0))))
			return -1;
	} while (v);
	return 0;
}

static int key(struct strbuf *b, unsigned field, unsigned wt)
{
	return varint(b, (uint64_t)field << 3 | wt);
}

static int field_varint(struct strbuf *b, unsigned field, int64_t v)
{
	return key(b, field, 0) || varint(b, (uint64_t)v);
}

static int field_bytes(struct strbuf *b, unsigned field, const void *p, size_t n)
{
	return key(b, field, 2) || varint(b, n) || strbuf_add(b, p, n);
}

static int field_float(struct strbuf *b, unsigned field, float f)
{
	uint32_t x;

	memcpy(&x, &f, 4);
	return key(b, field, 5) || strbuf_add(b, &x, 4);
}

int spm_model_build(const struct spm_piece_spec *pieces, size_t n,
		    const struct spm_model_spec *spec, struct strbuf *out)
{
	struct strbuf m = STRBUF_INIT;
	int bad = 0;

	for (size_t i = 0; i < n && !bad; i++) {
		m.n = 0;
		bad = field_bytes(&m, 1, pieces[i].piece, strlen(pieces[i].piece)) ||
		      field_float(&m, 2, pieces[i].score) ||
		      (pieces[i].type != SPM_NORMAL && field_varint(&m, 3, pieces[i].type)) ||
		      field_bytes(out, 1, m.p, m.n);
	}
	if (!bad) {
		m.n = 0;
		bad = field_varint(&m, 3, spec->model_type) || field_varint(&m, 4, (int64_t)n) ||
		      field_varint(&m, 35, spec->byte_fallback) ||
		      field_varint(&m, 40, spec->unk_id) || field_varint(&m, 41, spec->bos_id) ||
		      field_varint(&m, 42, spec->eos_id) || field_varint(&m, 43, spec->pad_id) ||
		      field_bytes(out, 2, m.p, m.n);
	}
	if (!bad) {
		m.n = 0;
		bad = field_bytes(&m, 1, "test", 4) ||
		      (spec->charsmap && field_bytes(&m, 2, spec->charsmap, spec->charsmap_len)) ||
		      field_varint(&m, 3, spec->add_dummy_prefix) ||
		      field_varint(&m, 4, spec->remove_extra_whitespaces) ||
		      field_varint(&m, 5, spec->escape_whitespaces) || field_bytes(out, 3, m.p, m.n);
	}
	strbuf_release(&m);
	return bad ? -1 : 0;
}

int spm_model_write(const char *path, const struct spm_piece_spec *pieces, size_t n,
		    const struct spm_model_spec *spec)
{
	struct strbuf b = STRBUF_INIT;
	FILE *f;
	int rc = -1;

	if (spm_model_build(pieces, n, spec, &b))
		goto out;
	f = fopen(path, "wb");
	if (!f)
		goto out;
	rc = fwrite(b.p, 1, b.n, f) == b.n ? 0 : -1;
	if (fclose(f))
		rc = -1;
out:
	strbuf_release(&b);
	return rc;
}

/* ---- darts-clone double array --------------------------------------------- */

struct tnode {
	int child[256];              /* node index, 0: none (node 0 is the root) */
	int leaf;
	uint32_t value;
};

struct dabuild {
	struct tnode *nodes;
	size_t n_nodes, cap_nodes;
	uint32_t *units;
	uint8_t *used;
	size_t size;
};

static int node_new(struct dabuild *d)
{
	if (d->n_nodes == d->cap_nodes) {
		size_t cap = d->cap_nodes ? 2 * d->cap_nodes : 16;
		struct tnode *v = realloc(d->nodes, cap * sizeof(*v));
		if (!v)
			return -1;
		d->nodes = v;
		d->cap_nodes = cap;
	}
	memset(&d->nodes[d->n_nodes], 0, sizeof(d->nodes[0]));
	return (int)d->n_nodes++;
}

static int grow_units(struct dabuild *d, size_t need)
{
	size_t size = d->size ? d->size : 256;
	uint32_t *u;
	uint8_t *used;

	if (need < d->size)
		return 0;
	while (size <= need)
		size *= 2;
	u = realloc(d->units, size * sizeof(*u));
	if (!u)
		return -1;
	d->units = u;
	used = realloc(d->used, size);
	if (!used)
		return -1;
	d->used = used;
	memset(d->units + d->size, 0, (size - d->size) * sizeof(*u));
	memset(d->used + d->size, 0, size - d->size);
	d->size = size;
	return 0;
}

/* Place the children of node (whose unit is at p). */
static int place(struct dabuild *d, int node, size_t p)
{
	const struct tnode *t = &d->nodes[node];
	size_t base;

	for (base = 1;; base++) {
		int ok = 1;
		if (grow_units(d, base | 0xff))
			return -1;
		if (base == p || d->used[base])
			continue;
		for (int c = 1; c < 256 && ok; c++)
			ok = !t->child[c] || !d->used[base ^ (size_t)c];
		if (ok)
			break;
	}
	if ((p ^ base) >= (1u << 21))
		return -1;
	d->used[base] = 1;
	d->units[p] |= (uint32_t)(p ^ base) << 10;
	if (t->leaf) {
		d->units[p] |= 1u << 8;
		d->units[base] = (1u << 31) | t->value;
	}
	for (int c = 1; c < 256; c++)
		if (t->child[c]) {
			d->used[base ^ (size_t)c] = 1;
			d->units[base ^ (size_t)c] = (uint32_t)c;
		}
	for (int c = 1; c < 256; c++)
		if (t->child[c] && place(d, t->child[c], base ^ (size_t)c))
			return -1;
	return 0;
}

int charsmap_build(const char *const *from, const char *const *to, size_t n,
		   struct strbuf *out)
{
	struct dabuild d = { 0 };
	struct strbuf repl = STRBUF_INIT;
	size_t last = 0;
	uint32_t trie;
	int rc = -1;

	if (node_new(&d) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		int cur = 0;

		for (const unsigned char *k = (const unsigned char *)from[i]; *k; k++) {
			int next = d.nodes[cur].child[*k];
			if (!next) {
				if ((next = node_new(&d)) < 0)
					goto out;
				d.nodes[cur].child[*k] = next;
			}
			cur = next;
		}
		d.nodes[cur].leaf = 1;
		d.nodes[cur].value = (uint32_t)repl.n;
		if (strbuf_add(&repl, to[i], strlen(to[i]) + 1))
			goto out;
	}
	if (grow_units(&d, 256))
		goto out;
	d.used[0] = 1;
	if (place(&d, 0, 0))
		goto out;
	for (size_t i = 0; i < d.size; i++)
		if (d.used[i])
			last = i;
	trie = (uint32_t)(last + 1) * 4;
	rc = strbuf_add(out, &trie, 4) || strbuf_add(out, d.units, trie) ||
	     strbuf_add(out, repl.p, repl.n) ? -1 : 0;
out:
	free(d.nodes);
	free(d.units);
	free(d.used);
	strbuf_release(&repl);
	return rc;
}
