/*
 * gguf — GGUF v1/v2/v3 reader; see gguf.h.
 *
 * Parsing walks the header with a bounds-checked cursor: every read asks the
 * cursor for n bytes and the cursor refuses to go past the end of the file.
 * The first failure is recorded with what was being read, so an error says
 * e.g. "model.gguf: truncated in tensor directory entry 12 (blk.1.attn_q.weight)".
 */
#include "format/gguf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"
#include "util/half.h"

#define GGUF_MAGIC 0x46554747u  /* "GGUF" little-endian */
#define GGUF_DEFAULT_ALIGNMENT 32
/* Sanity caps: far above any real model, low enough to stop absurd allocations. */
#define GGUF_MAX_KV      (1u << 20)
#define GGUF_MAX_TENSORS (1u << 20)
#define GGUF_MAX_DIMS    4

struct cursor {
	const uint8_t *p, *end;
	uint32_t version;
	int failed;
};

static int cur_take(struct cursor *c, uint64_t n, const uint8_t **out)
{
	if (c->failed || (uint64_t)(c->end - c->p) < n) {
		c->failed = 1;
		return -1;
	}
	*out = c->p;
	c->p += n;
	return 0;
}

static uint32_t cur_u32(struct cursor *c)
{
	const uint8_t *b;
	uint32_t v = 0;

	if (!cur_take(c, 4, &b))
		memcpy(&v, b, 4);
	return v;
}

static uint64_t cur_u64(struct cursor *c)
{
	const uint8_t *b;
	uint64_t v = 0;

	if (!cur_take(c, 8, &b))
		memcpy(&v, b, 8);
	return v;
}

/* Counts and lengths are 32-bit in v1, 64-bit after. */
static uint64_t cur_count(struct cursor *c)
{
	return c->version == 1 ? cur_u32(c) : cur_u64(c);
}

static int cur_str(struct cursor *c, const char **s, uint64_t *len)
{
	const uint8_t *b;

	*len = cur_count(c);
	if (c->failed || cur_take(c, *len, &b))
		return -1;
	*s = (const char *)b;
	return 0;
}

static char *dup_str(const char *s, uint64_t len)
{
	char *d = malloc(len + 1);

	if (!d)
		return NULL;
	memcpy(d, s, len);
	d[len] = '\0';
	return d;
}

static int scalar_size(uint32_t type)
{
	switch (type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_INT8: case GGUF_TYPE_BOOL: return 1;
	case GGUF_TYPE_UINT16: case GGUF_TYPE_INT16: return 2;
	case GGUF_TYPE_UINT32: case GGUF_TYPE_INT32: case GGUF_TYPE_FLOAT32: return 4;
	case GGUF_TYPE_UINT64: case GGUF_TYPE_INT64: case GGUF_TYPE_FLOAT64: return 8;
	}
	return 0;
}

/* Decode one scalar at b into kv->v (kv->type already set). */
static void decode_scalar(struct gguf_kv *kv, const uint8_t *b)
{
	uint8_t u8; int8_t i8; uint16_t u16; int16_t i16; uint32_t u32; int32_t i32;
	float f32; double f64;

	switch (kv->type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: memcpy(&u8, b, 1); kv->v.u = u8; break;
	case GGUF_TYPE_INT8: memcpy(&i8, b, 1); kv->v.i = i8; break;
	case GGUF_TYPE_UINT16: memcpy(&u16, b, 2); kv->v.u = u16; break;
	case GGUF_TYPE_INT16: memcpy(&i16, b, 2); kv->v.i = i16; break;
	case GGUF_TYPE_UINT32: memcpy(&u32, b, 4); kv->v.u = u32; break;
	case GGUF_TYPE_INT32: memcpy(&i32, b, 4); kv->v.i = i32; break;
	case GGUF_TYPE_UINT64: memcpy(&kv->v.u, b, 8); break;
	case GGUF_TYPE_INT64: memcpy(&kv->v.i, b, 8); break;
	case GGUF_TYPE_FLOAT32: memcpy(&f32, b, 4); kv->v.f = f32; break;
	case GGUF_TYPE_FLOAT64: memcpy(&f64, b, 8); kv->v.f = f64; break;
	}
}

static int read_kv(struct cursor *c, struct gguf_kv *kv, const char *path, uint64_t idx,
		   struct ada_err *err)
{
	const char *key;
	uint64_t klen;
	const uint8_t *b;

	if (cur_str(c, &key, &klen))
		return ada_fail(err, ADA_EFORMAT, "%s: truncated in metadata entry %llu",
				path, (unsigned long long)idx);
	kv->key = dup_str(key, klen);
	if (!kv->key)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	kv->type = cur_u32(c);
	if (c->failed)
		goto truncated;
	if (kv->type == GGUF_TYPE_STRING) {
		if (cur_str(c, &kv->v.str.s, &kv->v.str.len))
			goto truncated;
		return ADA_OK;
	}
	if (kv->type == GGUF_TYPE_ARRAY) {
		uint32_t et = cur_u32(c);
		uint64_t n = cur_count(c);
		if (c->failed)
			goto truncated;
		kv->v.arr.type = et;
		kv->v.arr.n = n;
		if (et == GGUF_TYPE_STRING) {
			if (n > (uint64_t)(c->end - c->p) / (c->version == 1 ? 4 : 8))
				goto truncated;  /* each string needs at least its length field */
			kv->v.arr.strs = xcalloc(n ? n : 1, sizeof(*kv->v.arr.strs));
			kv->v.arr.lens = xcalloc(n ? n : 1, sizeof(*kv->v.arr.lens));
			if (!kv->v.arr.strs || !kv->v.arr.lens)
				return ada_fail(err, ADA_ENOMEM, "out of memory");
			for (uint64_t i = 0; i < n; i++)
				if (cur_str(c, &kv->v.arr.strs[i], &kv->v.arr.lens[i]))
					goto truncated;
			return ADA_OK;
		}
		int es = scalar_size(et);
		if (!es)
			return ada_fail(err, ADA_EFORMAT,
					"%s: metadata '%s' is an array of unsupported type %u",
					path, kv->key, et);
		if (n > UINT64_MAX / (uint64_t)es || cur_take(c, n * (uint64_t)es, &kv->v.arr.data))
			goto truncated;
		return ADA_OK;
	}
	int sz = scalar_size(kv->type);
	if (!sz)
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' has unknown type %u",
				path, kv->key, kv->type);
	if (cur_take(c, (uint64_t)sz, &b))
		goto truncated;
	decode_scalar(kv, b);
	return ADA_OK;

truncated:
	return ada_fail(err, ADA_EFORMAT, "%s: truncated in metadata '%s'", path, kv->key);
}

/* A tensor's bytes: rows (dims[0]) must be whole blocks of its type. */
static uint64_t type_block_bytes(uint32_t type, uint64_t ne0, uint64_t n_elements, int *ok)
{
	*ok = quant_supported(type);
	if (!*ok)
		return 0;
	if (ne0 % (uint64_t)quant_block_elems(type)) {
		*ok = -1;
		return 0;
	}
	return quant_bytes(type, n_elements);
}

int gguf_sniff(const uint8_t *head, size_t len)
{
	uint32_t magic;

	if (len < 4)
		return 0;
	memcpy(&magic, head, 4);
	return magic == GGUF_MAGIC;
}

int gguf_open(const char *path, struct gguf **out, struct ada_err *err)
{
	struct gguf *g;
	struct cursor c;
	int rc;

	*out = NULL;
	g = calloc(1, sizeof(*g));
	if (!g)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = mapped_file_open(path, &g->file, err);
	if (rc)
		goto out_free;

	c.p = g->file.data;
	c.end = g->file.data + g->file.size;
	c.failed = 0;
	c.version = 3;
	if (cur_u32(&c) != GGUF_MAGIC || c.failed) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: not a GGUF file (bad magic)", path);
		goto out_free;
	}
	g->version = cur_u32(&c);
	if (c.failed) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: truncated GGUF header", path);
		goto out_free;
	}
	if (g->version < 1 || g->version > 3) {
		/* A big-endian v3 file reads as a huge version number here. */
		rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: unsupported GGUF version %u%s", path,
			      g->version, g->version > 0xffff ? " (big-endian file?)" : "");
		goto out_free;
	}
	c.version = g->version;
	g->n_tensors = cur_count(&c);
	g->n_kv = cur_count(&c);
	if (c.failed) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: truncated GGUF header", path);
		goto out_free;
	}
	if (g->n_kv > GGUF_MAX_KV || g->n_tensors > GGUF_MAX_TENSORS) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: implausible counts (%llu metadata, %llu tensors)",
			      path, (unsigned long long)g->n_kv, (unsigned long long)g->n_tensors);
		goto out_free;
	}
	g->kv = xcalloc(g->n_kv ? g->n_kv : 1, sizeof(*g->kv));
	g->tensors = xcalloc(g->n_tensors ? g->n_tensors : 1, sizeof(*g->tensors));
	if (!g->kv || !g->tensors) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_free;
	}
	for (uint64_t i = 0; i < g->n_kv; i++) {
		rc = read_kv(&c, &g->kv[i], path, i, err);
		if (rc)
			goto out_free;
	}

	g->alignment = GGUF_DEFAULT_ALIGNMENT;
	{
		uint64_t a;
		if (gguf_get_u64(g, "general.alignment", &a, NULL) == ADA_OK) {
			if (a == 0 || (a & (a - 1)) || a > 65536) {
				rc = ada_fail(err, ADA_EFORMAT, "%s: invalid general.alignment %llu",
					      path, (unsigned long long)a);
				goto out_free;
			}
			g->alignment = a;
		}
	}

	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		const char *name;
		uint64_t nlen;

		if (cur_str(&c, &name, &nlen)) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: truncated in tensor directory entry %llu",
				      path, (unsigned long long)i);
			goto out_free;
		}
		t->name = dup_str(name, nlen);
		if (!t->name) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			goto out_free;
		}
		t->n_dims = cur_u32(&c);
		if (!c.failed && (t->n_dims == 0 || t->n_dims > GGUF_MAX_DIMS)) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has %u dimensions",
				      path, t->name, t->n_dims);
			goto out_free;
		}
		t->n_elements = 1;
		for (uint32_t d = 0; d < GGUF_MAX_DIMS; d++) {
			t->dims[d] = 1;
			if (d < t->n_dims)
				t->dims[d] = g->version == 1 ? cur_u32(&c) : cur_u64(&c);
			if (t->dims[d] == 0 ||
			    __builtin_mul_overflow(t->n_elements, t->dims[d], &t->n_elements)) {
				if (c.failed)
					break;
				rc = ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' has an invalid shape",
					      path, t->name);
				goto out_free;
			}
		}
		t->type = cur_u32(&c);
		t->offset = cur_u64(&c);
		if (c.failed) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: truncated in tensor directory entry '%s'",
				      path, t->name);
			goto out_free;
		}
	}

	/* The data section starts at the next multiple of the alignment. */
	g->data_offset = (uint64_t)(c.p - g->file.data);
	g->data_offset = (g->data_offset + g->alignment - 1) / g->alignment * g->alignment;
	if (g->data_offset > g->file.size && g->n_tensors) {
		rc = ada_fail(err, ADA_EFORMAT, "%s: truncated before the tensor data", path);
		goto out_free;
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		struct gguf_tensor *t = &g->tensors[i];
		int known;
		uint64_t end;

		t->n_bytes = type_block_bytes(t->type, t->dims[0], t->n_elements, &known);
		if (known < 0) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: tensor '%s' of type %s has rows of %llu elements, not a multiple of its block of %d",
				      path, t->name, ggml_type_name(t->type),
				      (unsigned long long)t->dims[0], quant_block_elems(t->type));
			goto out_free;
		}
		if (!known) {
			/* Extent unknown: leave data NULL; loading it reports the type. */
			t->data = NULL;
			continue;
		}
		if (t->n_elements > UINT64_MAX / 4 ||
		    __builtin_add_overflow(g->data_offset, t->offset, &end) ||
		    __builtin_add_overflow(end, t->n_bytes, &end) || end > g->file.size) {
			rc = ada_fail(err, ADA_EFORMAT,
				      "%s: tensor '%s' (%llu bytes at offset %llu) extends past the end of the file (%zu bytes): truncated?",
				      path, t->name, (unsigned long long)t->n_bytes,
				      (unsigned long long)t->offset, g->file.size);
			goto out_free;
		}
		if (t->offset % g->alignment) {
			rc = ada_fail(err, ADA_EFORMAT, "%s: tensor '%s' is misaligned", path, t->name);
			goto out_free;
		}
		t->data = g->file.data + g->data_offset + t->offset;
	}
	*out = g;
	return ADA_OK;

out_free:
	gguf_close(g);
	return rc;
}

void gguf_close(struct gguf *g)
{
	if (!g)
		return;
	if (g->kv) {
		for (uint64_t i = 0; i < g->n_kv; i++) {
			free(g->kv[i].key);
			if (g->kv[i].type == GGUF_TYPE_ARRAY) {
				free(g->kv[i].v.arr.strs);
				free(g->kv[i].v.arr.lens);
			}
		}
		free(g->kv);
	}
	if (g->tensors) {
		for (uint64_t i = 0; i < g->n_tensors; i++)
			free(g->tensors[i].name);
		free(g->tensors);
	}
	mapped_file_close(&g->file);
	free(g);
}

const struct gguf_kv *gguf_find_kv(const struct gguf *g, const char *key)
{
	for (uint64_t i = 0; i < g->n_kv; i++)
		if (g->kv[i].key && !strcmp(g->kv[i].key, key))
			return &g->kv[i];
	return NULL;
}

const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name)
{
	for (uint64_t i = 0; i < g->n_tensors; i++)
		if (!strcmp(g->tensors[i].name, name))
			return &g->tensors[i];
	return NULL;
}

static int is_unsigned(uint32_t t)
{
	return t == GGUF_TYPE_UINT8 || t == GGUF_TYPE_UINT16 || t == GGUF_TYPE_UINT32 ||
	       t == GGUF_TYPE_UINT64 || t == GGUF_TYPE_BOOL;
}

static int is_signed(uint32_t t)
{
	return t == GGUF_TYPE_INT8 || t == GGUF_TYPE_INT16 || t == GGUF_TYPE_INT32 ||
	       t == GGUF_TYPE_INT64;
}

int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, key);

	if (!kv)
		return ada_fail(err, ADA_ENOTFOUND, "%s: missing metadata '%s'", g->file.path, key);
	if (is_unsigned(kv->type)) {
		*out = kv->v.u;
		return ADA_OK;
	}
	if (is_signed(kv->type) && kv->v.i >= 0) {
		*out = (uint64_t)kv->v.i;
		return ADA_OK;
	}
	return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' is not a non-negative integer",
			g->file.path, key);
}

int gguf_get_f64(const struct gguf *g, const char *key, double *out, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, key);

	if (!kv)
		return ada_fail(err, ADA_ENOTFOUND, "%s: missing metadata '%s'", g->file.path, key);
	if (kv->type == GGUF_TYPE_FLOAT32 || kv->type == GGUF_TYPE_FLOAT64)
		*out = kv->v.f;
	else if (is_unsigned(kv->type))
		*out = (double)kv->v.u;
	else if (is_signed(kv->type))
		*out = (double)kv->v.i;
	else
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' is not a number",
				g->file.path, key);
	return ADA_OK;
}

int gguf_get_str(const struct gguf *g, const char *key, char **out, struct ada_err *err)
{
	const struct gguf_kv *kv = gguf_find_kv(g, key);

	*out = NULL;
	if (!kv)
		return ada_fail(err, ADA_ENOTFOUND, "%s: missing metadata '%s'", g->file.path, key);
	if (kv->type != GGUF_TYPE_STRING)
		return ada_fail(err, ADA_EFORMAT, "%s: metadata '%s' is not a string",
				g->file.path, key);
	*out = dup_str(kv->v.str.s, kv->v.str.len);
	return *out ? ADA_OK : ada_fail(err, ADA_ENOMEM, "out of memory");
}

double gguf_arr_f64(const struct gguf_kv *kv, uint64_t i)
{
	struct gguf_kv one = { .type = kv->v.arr.type };
	int sz = scalar_size(kv->v.arr.type);

	decode_scalar(&one, kv->v.arr.data + i * (uint64_t)sz);
	if (one.type == GGUF_TYPE_FLOAT32 || one.type == GGUF_TYPE_FLOAT64)
		return one.v.f;
	return is_signed(one.type) ? (double)one.v.i : (double)one.v.u;
}

int64_t gguf_arr_i64(const struct gguf_kv *kv, uint64_t i)
{
	struct gguf_kv one = { .type = kv->v.arr.type };
	int sz = scalar_size(kv->v.arr.type);

	decode_scalar(&one, kv->v.arr.data + i * (uint64_t)sz);
	if (one.type == GGUF_TYPE_FLOAT32 || one.type == GGUF_TYPE_FLOAT64) {
		/* a float that is no int64 (NaN, +-inf, huge) must not be cast */
		if (!(one.v.f > -9.2e18 && one.v.f < 9.2e18))
			return one.v.f > 0 ? INT64_MAX : INT64_MIN;
		return (int64_t)one.v.f;
	}
	return is_signed(one.type) ? one.v.i : (int64_t)one.v.u;
}

int gguf_tensor_to_f32(const struct gguf *g, const struct gguf_tensor *t, float *dst,
		       struct ada_err *err)
{
	if (quant_supported(t->type) && t->data) {
		quant_dequantize(t->type, t->data, dst, (size_t)t->n_elements);
		return ADA_OK;
	}
	return ada_fail(err, ADA_EUNSUPPORTED,
			"%s: tensor '%s' has type %s (%u), which we do not read",
			g->file.path, t->name, ggml_type_name(t->type), t->type);
}
