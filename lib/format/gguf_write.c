/*
 * gguf_write — the GGUF writer; see gguf.h.
 *
 * The writer owns copies of every metadata value and a directory of the
 * tensors it was given (names owned, data borrowed). gguf_writer_write()
 * serialises the header into memory (it is small: metadata and the tensor
 * directory), then streams each tensor into the file, narrowing to F16/BF16
 * a chunk at a time so a multi-gigabyte export never needs a second copy.
 * Limits that a version cannot express (v1's 32-bit counts and dims) are
 * checked when a value is added, so serialisation itself cannot fail except
 * on I/O or memory (or a filled tensor's own failure).
 *
 * Filled tensors (gguf_writer_add_tensor_fill) have no data until they are
 * written: their rows are asked for a chunk at a time, in file order, and
 * converted on the calling thread's pool (rows are independent, so the bytes
 * do not depend on the thread count) — a generated 7B model is written with
 * a few MiB of buffers.
 */
#include "format/gguf.h"

#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/strbuf.h"
#include "util/err.h"
#include "util/half.h"
#include "util/pool.h"

_Static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
	       "GGUF is little-endian and the writer stores host-order values");

#define GGUF_MAGIC 0x46554747u
#define GGUF_WRITE_ALIGNMENT 32
/* llama.cpp refuses tensor names of GGML_MAX_NAME (64) bytes or more. */
#define GGUF_MAX_NAME 63
/* Elements converted per write when narrowing. */
#define GGUF_CHUNK 16384
/* f32 elements per chunk of a filled tensor (4 MiB). */
#define GGUF_FILL_CHUNK (1u << 20)

struct gguf_wkv {
	char *key;            /* owned */
	uint32_t type;        /* enum gguf_type */
	uint32_t arr_type;    /* arrays: element type */
	uint64_t n;           /* strings: byte length; arrays: element count */
	uint8_t scalar[8];    /* scalars: the value's little-endian bytes */
	void *data;           /* strings: bytes; numeric arrays: raw elements; owned */
	char **strs;          /* string arrays: owned copies */
	uint64_t *lens;
};

struct gguf_wtensor {
	char *name;           /* owned */
	uint32_t n_dims;
	uint64_t dims[4];
	uint32_t type;        /* as written */
	uint32_t src_type;    /* of data */
	const void *data;     /* borrowed until gguf_writer_write() */
	uint64_t n_elements;
	gguf_fill_fn *fill;   /* filled tensors: data is NULL */
	void *fill_ctx;
	uint64_t row_align;
};

struct gguf_writer {
	uint32_t version;
	struct gguf_wkv *kv;
	size_t n_kv, cap_kv;
	struct gguf_wtensor *tensors;
	size_t n_tensors, cap_tensors;
};

int gguf_writer_new(uint32_t version, struct gguf_writer **out, struct ada_err *err)
{
	struct gguf_writer *w;

	*out = NULL;
	if (version < 1 || version > 3)
		return ada_fail(err, ADA_EINVAL, "GGUF version %u cannot be written (1, 2 or 3)",
				version);
	w = calloc(1, sizeof(*w));
	if (!w)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	w->version = version;
	*out = w;
	return ADA_OK;
}

static void wkv_release(struct gguf_wkv *kv)
{
	free(kv->key);
	free(kv->data);
	if (kv->strs)
		for (uint64_t i = 0; i < kv->n; i++)
			free(kv->strs[i]);
	free(kv->strs);
	free(kv->lens);
	memset(kv, 0, sizeof(*kv));
}

void gguf_writer_free(struct gguf_writer *w)
{
	if (!w)
		return;
	for (size_t i = 0; i < w->n_kv; i++)
		wkv_release(&w->kv[i]);
	free(w->kv);
	for (size_t i = 0; i < w->n_tensors; i++)
		free(w->tensors[i].name);
	free(w->tensors);
	free(w);
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

/* v1 stores counts and lengths in 32 bits. */
static int fits_version(const struct gguf_writer *w, uint64_t n)
{
	return w->version > 1 || n <= UINT32_MAX;
}

/*
 * The slot for key: the existing entry (released, to be refilled) or a new
 * one at the end. On success the slot holds only an owned copy of the key.
 */
static int kv_slot(struct gguf_writer *w, const char *key, struct gguf_wkv **out,
		   struct ada_err *err)
{
	struct gguf_wkv *kv = NULL;
	size_t klen = strlen(key);

	if (!fits_version(w, klen))
		return ada_fail(err, ADA_EINVAL, "GGUF key too long");
	for (size_t i = 0; i < w->n_kv; i++) {
		if (!strcmp(w->kv[i].key, key)) {
			kv = &w->kv[i];
			break;
		}
	}
	if (!kv) {
		if (ALLOC_GROW(w->kv, w->n_kv + 1, w->cap_kv))
			return ada_fail(err, ADA_ENOMEM, "out of memory");
		kv = &w->kv[w->n_kv++];
		memset(kv, 0, sizeof(*kv));
	} else {
		wkv_release(kv);
	}
	kv->key = strdup(key);
	if (!kv->key) {
		/* Leave no half-made entry behind: drop the slot. */
		*kv = w->kv[--w->n_kv];
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	*out = kv;
	return ADA_OK;
}

/* Drop an entry whose value could not be filled in. */
static void kv_drop(struct gguf_writer *w, struct gguf_wkv *kv)
{
	wkv_release(kv);
	*kv = w->kv[--w->n_kv];
}

static int set_scalar(struct gguf_writer *w, const char *key, uint32_t type, const void *v,
		      struct ada_err *err)
{
	struct gguf_wkv *kv;
	int rc = kv_slot(w, key, &kv, err);

	if (rc)
		return rc;
	kv->type = type;
	memcpy(kv->scalar, v, (size_t)scalar_size(type));
	return ADA_OK;
}

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v, struct ada_err *err)
{
	return set_scalar(w, key, GGUF_TYPE_UINT32, &v, err);
}

int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v, struct ada_err *err)
{
	return set_scalar(w, key, GGUF_TYPE_INT32, &v, err);
}

int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v, struct ada_err *err)
{
	return set_scalar(w, key, GGUF_TYPE_FLOAT32, &v, err);
}

int gguf_writer_set_bool(struct gguf_writer *w, const char *key, int v, struct ada_err *err)
{
	uint8_t b = v ? 1 : 0;

	return set_scalar(w, key, GGUF_TYPE_BOOL, &b, err);
}

static int set_string(struct gguf_writer *w, const char *key, const char *s, uint64_t len,
		      struct ada_err *err)
{
	struct gguf_wkv *kv;
	int rc;

	if (!fits_version(w, len))
		return ada_fail(err, ADA_EINVAL, "GGUF v1 cannot store the %llu-byte string '%s'",
				(unsigned long long)len, key);
	rc = kv_slot(w, key, &kv, err);
	if (rc)
		return rc;
	kv->type = GGUF_TYPE_STRING;
	kv->n = len;
	kv->data = malloc(len ? len : 1);
	if (!kv->data) {
		kv_drop(w, kv);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	memcpy(kv->data, s, len);
	return ADA_OK;
}

int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s, struct ada_err *err)
{
	return set_string(w, key, s, strlen(s), err);
}

int gguf_writer_set_str_array(struct gguf_writer *w, const char *key, const char *const *strs,
			      const uint64_t *lens, uint64_t n, struct ada_err *err)
{
	struct gguf_wkv *kv;
	int rc;

	if (!fits_version(w, n))
		return ada_fail(err, ADA_EINVAL, "GGUF v1 cannot store %llu strings in '%s'",
				(unsigned long long)n, key);
	for (uint64_t i = 0; i < n; i++)
		if (!fits_version(w, lens ? lens[i] : strlen(strs[i])))
			return ada_fail(err, ADA_EINVAL, "GGUF v1 cannot store string %llu of '%s'",
					(unsigned long long)i, key);
	rc = kv_slot(w, key, &kv, err);
	if (rc)
		return rc;
	kv->type = GGUF_TYPE_ARRAY;
	kv->arr_type = GGUF_TYPE_STRING;
	kv->strs = xcalloc(n ? n : 1, sizeof(*kv->strs));
	kv->lens = xcalloc(n ? n : 1, sizeof(*kv->lens));
	if (!kv->strs || !kv->lens)
		goto out_nomem;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t len = lens ? lens[i] : strlen(strs[i]);
		kv->strs[i] = malloc(len ? len : 1);
		if (!kv->strs[i])
			goto out_nomem;
		kv->n = i + 1;  /* wkv_release frees strs[0..n) */
		memcpy(kv->strs[i], strs[i], len);
		kv->lens[i] = len;
	}
	kv->n = n;
	return ADA_OK;

out_nomem:
	kv_drop(w, kv);
	return ada_fail(err, ADA_ENOMEM, "out of memory");
}

static int set_numeric_array(struct gguf_writer *w, const char *key, uint32_t elem_type,
			     const void *v, uint64_t n, struct ada_err *err)
{
	size_t bytes;
	struct gguf_wkv *kv;
	int rc;

	if (!fits_version(w, n))
		return ada_fail(err, ADA_EINVAL, "GGUF v1 cannot store %llu elements in '%s'",
				(unsigned long long)n, key);
	if (n > SIZE_MAX || size_mul((size_t)n, (size_t)scalar_size(elem_type), &bytes))
		return ada_fail(err, ADA_ENOMEM, "array '%s' too large", key);
	rc = kv_slot(w, key, &kv, err);
	if (rc)
		return rc;
	kv->type = GGUF_TYPE_ARRAY;
	kv->arr_type = elem_type;
	kv->n = n;
	kv->data = malloc(bytes ? bytes : 1);
	if (!kv->data) {
		kv_drop(w, kv);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	if (bytes)
		memcpy(kv->data, v, bytes);
	return ADA_OK;
}

int gguf_writer_set_f32_array(struct gguf_writer *w, const char *key, const float *v, uint64_t n,
			      struct ada_err *err)
{
	return set_numeric_array(w, key, GGUF_TYPE_FLOAT32, v, n, err);
}

int gguf_writer_set_i32_array(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n,
			      struct ada_err *err)
{
	return set_numeric_array(w, key, GGUF_TYPE_INT32, v, n, err);
}

int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct ada_err *err)
{
	uint8_t b[8];

	switch (kv->type) {
	case GGUF_TYPE_STRING:
		return set_string(w, kv->key, kv->v.str.s, kv->v.str.len, err);
	case GGUF_TYPE_ARRAY:
		if (kv->v.arr.type == GGUF_TYPE_STRING)
			return gguf_writer_set_str_array(w, kv->key, kv->v.arr.strs, kv->v.arr.lens,
							 kv->v.arr.n, err);
		if (!scalar_size(kv->v.arr.type))
			return ada_fail(err, ADA_EUNSUPPORTED,
					"metadata '%s': cannot copy an array of type %u",
					kv->key, kv->v.arr.type);
		return set_numeric_array(w, kv->key, kv->v.arr.type, kv->v.arr.data, kv->v.arr.n,
					 err);
	}
	/* The reader widened scalars into a union; narrow back to the stored width. */
	switch (kv->type) {
	case GGUF_TYPE_UINT8: case GGUF_TYPE_BOOL: b[0] = (uint8_t)kv->v.u; break;
	case GGUF_TYPE_INT8: { int8_t x = (int8_t)kv->v.i; memcpy(b, &x, 1); break; }
	case GGUF_TYPE_UINT16: { uint16_t x = (uint16_t)kv->v.u; memcpy(b, &x, 2); break; }
	case GGUF_TYPE_INT16: { int16_t x = (int16_t)kv->v.i; memcpy(b, &x, 2); break; }
	case GGUF_TYPE_UINT32: { uint32_t x = (uint32_t)kv->v.u; memcpy(b, &x, 4); break; }
	case GGUF_TYPE_INT32: { int32_t x = (int32_t)kv->v.i; memcpy(b, &x, 4); break; }
	case GGUF_TYPE_FLOAT32: { float x = (float)kv->v.f; memcpy(b, &x, 4); break; }
	case GGUF_TYPE_UINT64: memcpy(b, &kv->v.u, 8); break;
	case GGUF_TYPE_INT64: memcpy(b, &kv->v.i, 8); break;
	case GGUF_TYPE_FLOAT64: memcpy(b, &kv->v.f, 8); break;
	default:
		return ada_fail(err, ADA_EUNSUPPORTED, "metadata '%s': cannot copy type %u",
				kv->key, kv->type);
	}
	return set_scalar(w, kv->key, kv->type, b, err);
}

int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
			   const uint64_t *dims, const float *data, uint32_t type,
			   struct ada_err *err)
{
	return gguf_writer_add_tensor_typed(w, name, n_dims, dims, data, GGML_TYPE_F32, type, err);
}

static int add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
		      const uint64_t *dims, uint32_t src_type, uint32_t type,
		      struct gguf_wtensor **out, struct ada_err *err)
{
	struct gguf_wtensor *t;
	uint64_t n = 1;

	if (strlen(name) > GGUF_MAX_NAME)
		return ada_fail(err, ADA_EINVAL, "tensor name '%s' is longer than %d bytes",
				name, GGUF_MAX_NAME);
	if (!quant_supported(type) || !quant_supported(src_type))
		return ada_fail(err, ADA_EUNSUPPORTED, "tensor '%s': cannot write type %s",
				name, ggml_type_name(quant_supported(type) ? src_type : type));
	if (n_dims < 1 || n_dims > 4)
		return ada_fail(err, ADA_EINVAL, "tensor '%s': %u dimensions (1 to 4)", name, n_dims);
	if (dims[0] % (uint64_t)quant_block_elems(type) ||
	    dims[0] % (uint64_t)quant_block_elems(src_type))
		return ada_fail(err, ADA_EINVAL,
				"tensor '%s': rows of %llu elements are not whole blocks of %s (%d)",
				name, (unsigned long long)dims[0],
				ggml_type_name(dims[0] % (uint64_t)quant_block_elems(type) ? type : src_type),
				quant_block_elems(dims[0] % (uint64_t)quant_block_elems(type) ? type : src_type));
	for (uint32_t d = 0; d < n_dims; d++) {
		if (dims[d] == 0 || !fits_version(w, dims[d]) ||
		    __builtin_mul_overflow(n, dims[d], &n) || n > (SIZE_MAX >> 2))
			return ada_fail(err, ADA_EINVAL, "tensor '%s': invalid dimension %llu",
					name, (unsigned long long)dims[d]);
	}
	for (size_t i = 0; i < w->n_tensors; i++)
		if (!strcmp(w->tensors[i].name, name))
			return ada_fail(err, ADA_EINVAL, "tensor '%s' added twice", name);
	if (ALLOC_GROW(w->tensors, w->n_tensors + 1, w->cap_tensors))
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t = &w->tensors[w->n_tensors];
	memset(t, 0, sizeof(*t));
	t->name = strdup(name);
	if (!t->name)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	t->n_dims = n_dims;
	for (uint32_t d = 0; d < 4; d++)
		t->dims[d] = d < n_dims ? dims[d] : 1;
	t->type = type;
	t->src_type = src_type;
	t->n_elements = n;
	w->n_tensors++;
	*out = t;
	return ADA_OK;
}

int gguf_writer_add_tensor_typed(struct gguf_writer *w, const char *name, uint32_t n_dims,
				 const uint64_t *dims, const void *data, uint32_t src_type,
				 uint32_t type, struct ada_err *err)
{
	struct gguf_wtensor *t;
	int rc = add_tensor(w, name, n_dims, dims, src_type, type, &t, err);

	if (!rc)
		t->data = data;
	return rc;
}

int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t n_dims,
				const uint64_t *dims, gguf_fill_fn *fill, void *ctx,
				uint64_t row_align, uint32_t type, struct ada_err *err)
{
	struct gguf_wtensor *t;
	int rc;

	if (!fill || row_align < 1)
		return ada_fail(err, ADA_EINVAL, "tensor '%s': no fill function", name);
	rc = add_tensor(w, name, n_dims, dims, GGML_TYPE_F32, type, &t, err);
	if (rc)
		return rc;
	t->fill = fill;
	t->fill_ctx = ctx;
	t->row_align = row_align;
	return ADA_OK;
}

/* ---- serialisation ---------------------------------------------------- */

/* Header bytes go to a strbuf, whose failure is sticky: checked once. */
static void bb_u32(struct strbuf *b, uint32_t v)
{
	strbuf_add(b, &v, 4);
}

static void bb_u64(struct strbuf *b, uint64_t v)
{
	strbuf_add(b, &v, 8);
}

/* Counts and lengths: 32-bit in v1 (range checked when added), 64-bit after. */
static void bb_count(struct strbuf *b, uint32_t version, uint64_t v)
{
	if (version == 1)
		bb_u32(b, (uint32_t)v);
	else
		bb_u64(b, v);
}

static void bb_str(struct strbuf *b, uint32_t version, const void *s, uint64_t len)
{
	bb_count(b, version, len);
	strbuf_add(b, s, (size_t)len);
}


static uint64_t align_up(uint64_t x)
{
	return (x + GGUF_WRITE_ALIGNMENT - 1) / GGUF_WRITE_ALIGNMENT * GGUF_WRITE_ALIGNMENT;
}

static void put_header(const struct gguf_writer *w, struct strbuf *b)
{
	uint64_t offset = 0;

	bb_u32(b, GGUF_MAGIC);
	bb_u32(b, w->version);
	bb_count(b, w->version, w->n_tensors);
	bb_count(b, w->version, w->n_kv);
	for (size_t i = 0; i < w->n_kv; i++) {
		const struct gguf_wkv *kv = &w->kv[i];

		bb_str(b, w->version, kv->key, strlen(kv->key));
		bb_u32(b, kv->type);
		if (kv->type == GGUF_TYPE_STRING) {
			bb_str(b, w->version, kv->data, kv->n);
		} else if (kv->type == GGUF_TYPE_ARRAY) {
			bb_u32(b, kv->arr_type);
			bb_count(b, w->version, kv->n);
			if (kv->arr_type == GGUF_TYPE_STRING)
				for (uint64_t j = 0; j < kv->n; j++)
					bb_str(b, w->version, kv->strs[j], kv->lens[j]);
			else
				strbuf_add(b, kv->data,
				       (size_t)kv->n * (size_t)scalar_size(kv->arr_type));
		} else {
			strbuf_add(b, kv->scalar, (size_t)scalar_size(kv->type));
		}
	}
	for (size_t i = 0; i < w->n_tensors; i++) {
		const struct gguf_wtensor *t = &w->tensors[i];

		bb_str(b, w->version, t->name, strlen(t->name));
		bb_u32(b, t->n_dims);
		for (uint32_t d = 0; d < t->n_dims; d++)
			bb_count(b, w->version, t->dims[d]);
		bb_u32(b, t->type);
		bb_u64(b, offset);
		offset = align_up(offset + quant_bytes(t->type, t->n_elements));
	}
}

static const uint8_t zeros[GGUF_WRITE_ALIGNMENT];

/* Rows per chunk of a filled tensor: as many as fit GGUF_FILL_CHUNK, a
 * multiple of row_align (at least row_align). */
static uint64_t fill_chunk_rows(const struct gguf_wtensor *t)
{
	uint64_t rows = GGUF_FILL_CHUNK / t->dims[0];

	rows -= rows % t->row_align;
	return rows ? rows : t->row_align;
}

/* The buffers a filled tensor's chunk needs: f32 elements and converted bytes. */
static void fill_buffers(const struct gguf_wtensor *t, uint64_t *elems, uint64_t *bytes)
{
	const uint64_t n_rows = t->n_elements / t->dims[0];
	uint64_t rows = fill_chunk_rows(t);

	rows = rows < n_rows ? rows : n_rows;
	*elems = rows * t->dims[0];
	*bytes = quant_bytes(t->type, *elems);
}

struct convert_rows {
	const struct gguf_wtensor *t;
	const float *src;
	uint8_t *dst;
	uint64_t row_bytes;
	_Atomic int bad;
};

static void convert_rows(void *ctx, long lo, long hi, int thread)
{
	struct convert_rows *c = ctx;
	const uint64_t ne0 = c->t->dims[0];

	(void)thread;
	for (long r = lo; r < hi; r++)
		if (quant_quantize(c->t->type, c->src + (uint64_t)r * ne0,
				   c->dst + (uint64_t)r * c->row_bytes, (size_t)ne0))
			c->bad = 1;
}

/* A filled tensor: chunks of rows from its fill function, converted to its
 * type a row per task, then written. */
static int write_filled(struct atomic_file *af, const struct gguf_wtensor *t, float *chunk,
			uint8_t *out, struct ada_err *err)
{
	const uint64_t ne0 = t->dims[0], n_rows = t->n_elements / ne0;
	const uint64_t step = fill_chunk_rows(t);
	int rc = ADA_OK;

	for (uint64_t r0 = 0; r0 < n_rows && !rc; r0 += step) {
		const uint64_t n = n_rows - r0 < step ? n_rows - r0 : step;
		struct convert_rows c = { .t = t, .src = chunk, .dst = out,
					  .row_bytes = quant_bytes(t->type, ne0) };

		if ((rc = t->fill(t->fill_ctx, r0, n, chunk, err)))
			return rc;
		if (t->type == GGML_TYPE_F32) {
			rc = atomic_file_write(af, chunk, (size_t)(n * ne0 * sizeof(float)), err);
			continue;
		}
		pool_for((long)n, (long)(GGUF_CHUNK / ne0 ? GGUF_CHUNK / ne0 : 1), convert_rows, &c);
		if (c.bad)
			return ada_fail(err, ADA_EINVAL,
					"tensor '%s': a value is not finite or too large for %s",
					t->name, ggml_type_name(t->type));
		rc = atomic_file_write(af, out, (size_t)(n * c.row_bytes), err);
	}
	return rc;
}

/* A tensor in its written type: copied when the data already are, else
 * converted a chunk of whole rows at a time (dequantized to f32, then
 * narrowed or quantized), so no second copy of the tensor is ever made. */
static int write_tensor(struct atomic_file *af, const struct gguf_wtensor *t, float *chunk,
			void *out, float *fill_chunk, uint8_t *fill_out, struct ada_err *err)
{
	const uint64_t bytes = quant_bytes(t->type, t->n_elements), ne0 = t->dims[0];
	const uint64_t rows = ne0 >= GGUF_CHUNK ? 1 : GGUF_CHUNK / ne0;
	const uint8_t *src = t->data;
	int rc = ADA_OK;

	if (t->fill) {
		rc = write_filled(af, t, fill_chunk, fill_out, err);
	} else if (t->type == t->src_type) {
		rc = atomic_file_write(af, t->data, (size_t)bytes, err);
	} else {
		for (uint64_t at = 0; at < t->n_elements && !rc; at += rows * ne0) {
			uint64_t left = t->n_elements - at, n = left < rows * ne0 ? left : rows * ne0;
			if (n > GGUF_CHUNK) {
				/* one row longer than a chunk: a row at a time through the
				 * caller's buffers is not possible; split on blocks (ne0 is
				 * a multiple of both types' blocks, and so is GGUF_CHUNK) */
				for (uint64_t k = 0; k < n && !rc; k += GGUF_CHUNK) {
					uint64_t m = n - k < GGUF_CHUNK ? n - k : GGUF_CHUNK;
					quant_dequantize(t->src_type, src + quant_bytes(t->src_type, at + k),
							 chunk, (size_t)m);
					if (quant_quantize(t->type, chunk, out, (size_t)m))
						return ada_fail(err, ADA_EINVAL,
								"tensor '%s': a value is not finite or too large for %s",
								t->name, ggml_type_name(t->type));
					rc = atomic_file_write(af, out, (size_t)quant_bytes(t->type, m), err);
				}
				continue;
			}
			quant_dequantize(t->src_type, src + quant_bytes(t->src_type, at), chunk, (size_t)n);
			if (quant_quantize(t->type, chunk, out, (size_t)n))
				return ada_fail(err, ADA_EINVAL,
						"tensor '%s': a value is not finite or too large for %s",
						t->name, ggml_type_name(t->type));
			rc = atomic_file_write(af, out, (size_t)quant_bytes(t->type, n), err);
		}
	}
	if (rc)
		return rc;
	return atomic_file_write(af, zeros, (size_t)(align_up(bytes) - bytes), err);
}

int gguf_writer_write(struct gguf_writer *w, const char *path, struct ada_err *err)
{
	struct strbuf b = STRBUF_INIT;
	struct atomic_file af;
	float *chunk = NULL, *fill_chunk = NULL;
	void *out = NULL;
	uint8_t *fill_out = NULL;
	uint64_t fill_elems = 0, fill_bytes = 0;
	int rc;

	put_header(w, &b);
	strbuf_add(&b, zeros, (size_t)(align_up(b.n) - b.n));
	chunk = malloc(GGUF_CHUNK * sizeof(*chunk));
	out = malloc(GGUF_CHUNK * sizeof(float));
	for (size_t i = 0; i < w->n_tensors; i++) {
		uint64_t e, by;
		if (!w->tensors[i].fill)
			continue;
		fill_buffers(&w->tensors[i], &e, &by);
		fill_elems = e > fill_elems ? e : fill_elems;
		fill_bytes = by > fill_bytes ? by : fill_bytes;
	}
	if (fill_elems) {
		fill_chunk = xalloc_aligned((size_t)fill_elems, sizeof(*fill_chunk));
		fill_out = malloc((size_t)fill_bytes);
	}
	if (b.failed || !chunk || !out || (fill_elems && (!fill_chunk || !fill_out))) {
		rc = ada_fail(err, ADA_ENOMEM, "%s: out of memory", path);
		goto out_free;
	}
	rc = atomic_file_open(&af, path, err);
	if (rc)
		goto out_free;
	rc = atomic_file_write(&af, b.p, b.n, err);
	for (size_t i = 0; i < w->n_tensors && !rc; i++)
		rc = write_tensor(&af, &w->tensors[i], chunk, out, fill_chunk, fill_out, err);
	if (rc) {
		atomic_file_abort(&af);
		goto out_free;
	}
	rc = atomic_file_commit(&af, err);

out_free:
	free(fill_out);
	free(fill_chunk);
	free(out);
	free(chunk);
	strbuf_release(&b);
	return rc;
}
