/*
 * safetensors — reader and writer for the safetensors format.
 *
 * A file is an 8-byte little-endian header length N, N bytes of JSON
 * ({"name": {"dtype", "shape", "data_offsets": [begin, end]}, ...,
 * "__metadata__": {...}}) and then the tensor bytes, offsets relative to the
 * end of the header. Hugging Face checkpoints and PEFT adapters use it.
 *
 * The reader maps the file and checks everything the header claims before
 * any pointer is formed: the header length fits the file, every tensor's
 * extent equals product(shape) * dtype size without overflow, and the
 * extents tile the data section exactly (sorted by offset: no overlap, no
 * gap, nothing after the last tensor), as the reference implementation
 * requires. struct safetensors owns the mapping; tensor data pointers are
 * valid until safetensors_close(). Every dtype of the format is indexed;
 * only F32, F16 and BF16 convert to f32 (others: ADA_EUNSUPPORTED naming the
 * dtype and the tensor, reported when the tensor is used).
 *
 * The writer (safetensors_write.c) takes f32 data (borrowed until written)
 * and stores it as F32, F16 or BF16, with optional string metadata such as
 * {"format": "pt"}; the header is padded with spaces to a multiple of 8 so
 * the data section is aligned, and the file is written atomically.
 */
#ifndef ADA_FORMAT_SAFETENSORS_H
#define ADA_FORMAT_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "util/fileio.h"

enum st_dtype {
	ST_F32, ST_F16, ST_BF16,     /* the three we load */
	ST_F64, ST_I64, ST_U64, ST_I32, ST_U32, ST_I16, ST_U16, ST_I8, ST_U8,
	ST_BOOL, ST_F8_E4M3, ST_F8_E5M2,
	N_ST_DTYPES
};

#define ST_MAX_DIMS 8

struct st_tensor {
	char *name;                /* owned */
	enum st_dtype dtype;
	uint32_t n_dims;           /* 0 for a scalar */
	uint64_t shape[ST_MAX_DIMS];  /* outermost first: a Linear weight is [out, in] */
	uint64_t n_elements;
	uint64_t n_bytes;
	const void *data;          /* into the mapping; not necessarily aligned */
};

struct safetensors {
	struct mapped_file file;
	size_t n_tensors;
	struct st_tensor *tensors; /* sorted by name */
};

/* Open and validate path; *out is owned by the caller (safetensors_close). */
int safetensors_open(const char *path, struct safetensors **out, struct ada_err *err);
void safetensors_close(struct safetensors *st);

/* The tensor called name, or NULL. */
const struct st_tensor *safetensors_find(const struct safetensors *st, const char *name);

/* "F32", "BF16", ... */
const char *st_dtype_name(enum st_dtype dtype);

/* Convert an F32, F16 or BF16 tensor into dst (n_elements floats). */
int safetensors_tensor_to_f32(const struct safetensors *st, const struct st_tensor *t,
			      float *dst, struct ada_err *err);

/* ---- writer ------------------------------------------------------------ */

struct safetensors_writer;

int safetensors_writer_new(struct safetensors_writer **out, struct ada_err *err);
void safetensors_writer_free(struct safetensors_writer *w);

/* A "__metadata__" entry (key and value copied). */
int safetensors_writer_set_metadata(struct safetensors_writer *w, const char *key,
				    const char *value, struct ada_err *err);

/* Add a tensor of n_dims (0..ST_MAX_DIMS) dims, outermost first; data holds
 * their product as f32, borrowed until safetensors_writer_write(). dtype is
 * ST_F32, ST_F16 or ST_BF16. Tensors are laid out in the order added. */
int safetensors_writer_add_tensor(struct safetensors_writer *w, const char *name,
				  uint32_t n_dims, const uint64_t *shape, const float *data,
				  enum st_dtype dtype, struct ada_err *err);

/* Write everything to path atomically; the writer stays usable. */
int safetensors_writer_write(struct safetensors_writer *w, const char *path,
			     struct ada_err *err);

#endif
