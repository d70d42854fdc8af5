/*
 * gguf — reader (and, in gguf_write.c, writer) for GGUF files (versions 1, 2 and 3).
 *
 * The file is mapped read-only and parsed once: metadata key/values and the
 * tensor directory are indexed, and every length, count, offset and tensor
 * extent is checked against the file size before use, so a truncated or
 * corrupt file yields an error naming the file (and the tensor or key)
 * instead of a crash. Tensor data stay in the mapping; struct gguf_tensor's
 * data pointer is valid until gguf_close().
 *
 * Version differences: v1 stores counts and string lengths as uint32, v2 and
 * v3 as uint64 (v3 only adds big-endian files, which we refuse). Tensor dims
 * are listed innermost first, so a 2-D tensor [ne0, ne1] is the row-major
 * matrix of ne1 rows by ne0 columns.
 */
#ifndef ADA_FORMAT_GGUF_H
#define ADA_FORMAT_GGUF_H

#include <stdint.h>

#include "format/quant.h"
#include "util/fileio.h"

enum gguf_type {
	GGUF_TYPE_UINT8 = 0, GGUF_TYPE_INT8 = 1, GGUF_TYPE_UINT16 = 2,
	GGUF_TYPE_INT16 = 3, GGUF_TYPE_UINT32 = 4, GGUF_TYPE_INT32 = 5,
	GGUF_TYPE_FLOAT32 = 6, GGUF_TYPE_BOOL = 7, GGUF_TYPE_STRING = 8,
	GGUF_TYPE_ARRAY = 9, GGUF_TYPE_UINT64 = 10, GGUF_TYPE_INT64 = 11,
	GGUF_TYPE_FLOAT64 = 12,
};

struct gguf_kv {
	char *key;              /* owned, NUL-terminated */
	uint32_t type;          /* enum gguf_type */
	union {
		uint64_t u;         /* unsigned integers and bool */
		int64_t i;          /* signed integers */
		double f;           /* floats */
		struct {
			const char *s;  /* into the mapping, NOT NUL-terminated */
			uint64_t len;
		} str;
		struct {
			uint32_t type;  /* element type */
			uint64_t n;
			const uint8_t *data;   /* raw elements (numeric arrays) */
			const char **strs;     /* string arrays: n pointers into the mapping */
			uint64_t *lens;        /* string arrays: n lengths */
		} arr;
	} v;
};

struct gguf_tensor {
	char *name;             /* owned */
	uint32_t n_dims;
	uint64_t dims[4];       /* innermost first; unused dims are 1 */
	uint32_t type;          /* enum ggml_type */
	uint64_t offset;        /* relative to the data section */
	uint64_t n_elements;
	uint64_t n_bytes;
	const void *data;       /* into the mapping */
};

struct gguf {
	struct mapped_file file;
	uint32_t version;
	uint64_t n_kv, n_tensors;
	struct gguf_kv *kv;
	struct gguf_tensor *tensors;
	uint64_t alignment;
	uint64_t data_offset;   /* start of the tensor data section in the file */
};

int gguf_open(const char *path, struct gguf **out, struct ada_err *err);
void gguf_close(struct gguf *g);

/* Does the buffer start like a GGUF file? (for format auto-detection) */
int gguf_sniff(const uint8_t *head, size_t len);

const struct gguf_kv *gguf_find_kv(const struct gguf *g, const char *key);
const struct gguf_tensor *gguf_find_tensor(const struct gguf *g, const char *name);

/* Typed getters: ADA_OK, ADA_ENOTFOUND when absent, ADA_EFORMAT on a type
 * that cannot convert (integers convert between widths when in range). */
int gguf_get_u64(const struct gguf *g, const char *key, uint64_t *out, struct ada_err *err);
int gguf_get_f64(const struct gguf *g, const char *key, double *out, struct ada_err *err);
/* *out is malloc'ed and NUL-terminated; caller frees. */
int gguf_get_str(const struct gguf *g, const char *key, char **out, struct ada_err *err);

/* Numeric array element i as double / int64 (bounds-checked by the caller via arr.n);
 * a float element that is no int64 (NaN, infinite, huge) reads as INT64_MIN
 * (NaN, -inf) or INT64_MAX, which callers' range checks refuse. */
double gguf_arr_f64(const struct gguf_kv *kv, uint64_t i);
int64_t gguf_arr_i64(const struct gguf_kv *kv, uint64_t i);

/* Convert a tensor of any type of format/quant.h into dst (n_elements
 * floats). Other types: ADA_EUNSUPPORTED naming the type and the tensor. */
int gguf_tensor_to_f32(const struct gguf *g, const struct gguf_tensor *t, float *dst,
		       struct ada_err *err);

/* ---- writer ---------------------------------------------------------------
 *
 * Builds a GGUF file (version 1, 2 or 3, alignment 32) from metadata and
 * tensors (f32, or any type of quant.h), converting them on the way out to
 * the type asked (F16/BF16 narrowing, or a quantized type). Metadata
 * values are copied into the writer; tensor data are borrowed and must stay
 * valid until gguf_writer_write() returns. The file is written through
 * struct atomic_file, so a crash leaves either the old file or the new one.
 * Setting a key that is already set replaces its value (GGUF keys are unique).
 */
struct gguf_writer;

int gguf_writer_new(uint32_t version, struct gguf_writer **out, struct ada_err *err);
void gguf_writer_free(struct gguf_writer *w);

int gguf_writer_set_u32(struct gguf_writer *w, const char *key, uint32_t v, struct ada_err *err);
int gguf_writer_set_i32(struct gguf_writer *w, const char *key, int32_t v, struct ada_err *err);
int gguf_writer_set_f32(struct gguf_writer *w, const char *key, float v, struct ada_err *err);
int gguf_writer_set_bool(struct gguf_writer *w, const char *key, int v, struct ada_err *err);
/* s is NUL-terminated. */
int gguf_writer_set_str(struct gguf_writer *w, const char *key, const char *s, struct ada_err *err);
/* n strings; lens may be NULL (then each string is NUL-terminated). */
int gguf_writer_set_str_array(struct gguf_writer *w, const char *key, const char *const *strs,
			      const uint64_t *lens, uint64_t n, struct ada_err *err);
int gguf_writer_set_f32_array(struct gguf_writer *w, const char *key, const float *v, uint64_t n,
			      struct ada_err *err);
int gguf_writer_set_i32_array(struct gguf_writer *w, const char *key, const int32_t *v, uint64_t n,
			      struct ada_err *err);
/* Copy one metadata entry, of any type, from a file being read (e.g. the
 * tokenizer.ggml.* keys of a base model into a merged export). */
int gguf_writer_copy_kv(struct gguf_writer *w, const struct gguf_kv *kv, struct ada_err *err);

/* Add a tensor of n_dims (1..4) dims, innermost first (a row-major matrix of
 * R rows by C columns is dims {C, R}); data holds the product of the dims as
 * f32 and is borrowed until gguf_writer_write(). type is GGML_TYPE_F32,
 * GGML_TYPE_F16 or GGML_TYPE_BF16. */
int gguf_writer_add_tensor(struct gguf_writer *w, const char *name, uint32_t n_dims,
			   const uint64_t *dims, const float *data, uint32_t type,
			   struct ada_err *err);
/* The same for data of any type of format/quant.h (src_type; e.g. a tensor
 * of a file being read), written as type: copied as it is when the types
 * agree, else converted a chunk at a time through f32 (quant_quantize's
 * rule). Rows (dims[0]) must be whole blocks of both types. Any type of
 * quant.h may be written. */
int gguf_writer_add_tensor_typed(struct gguf_writer *w, const char *name, uint32_t n_dims,
				 const uint64_t *dims, const void *data, uint32_t src_type,
				 uint32_t type, struct ada_err *err);

/* A tensor made while the file is written (a generated model too large to
 * hold in memory): fill(ctx, row0, n, dst, err) writes rows [row0, row0 + n)
 * as f32 into dst (n * dims[0] floats), where a row is dims[0] elements and
 * the tensor has the product of dims[1..] rows. fill is called once per row,
 * rows in ascending order and tensors in the order they were added, with n a
 * multiple of row_align (>= 1) except at the tensor's end; the rows are
 * then converted to type (chunks of them in parallel on the calling thread's
 * pool) and written. Memory stays at one chunk (about 4 MiB of f32, or
 * row_align rows when that is more) and its converted bytes. */
typedef int gguf_fill_fn(void *ctx, uint64_t row0, uint64_t n_rows, float *dst,
			 struct ada_err *err);
int gguf_writer_add_tensor_fill(struct gguf_writer *w, const char *name, uint32_t n_dims,
				const uint64_t *dims, gguf_fill_fn *fill, void *ctx,
				uint64_t row_align, uint32_t type, struct ada_err *err);

/* Write everything to path atomically. The writer stays usable (and must
 * still be freed). */
int gguf_writer_write(struct gguf_writer *w, const char *path, struct ada_err *err);

#endif
