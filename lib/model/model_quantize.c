/*
 * model_quantize — ada_quantize(): a GGUF model rewritten with its matrices
 * in another type (`adalora quantize IN OUT --type T`).
 *
 * The input must be a model we load (its config is checked first, so a file
 * that would not load is refused before anything is written). Metadata are
 * copied as they are, except general.file_type, which would now be wrong
 * (llama.cpp only displays it); every 2-D tensor becomes the asked type or,
 * when its rows are not whole blocks of it, quant_fallback()'s; vectors
 * (norms, biases) are copied in their type. The writer converts a chunk of
 * rows at a time, so memory stays at the mapping plus a few buffers.
 */
#include <string.h>

#include "format/gguf.h"
#include "format/quant.h"
#include "model/model_loader.h"
#include "util/err.h"

int ada_quantize(const char *in_path, const char *out_path, const char *dtype,
		 struct ada_err *err)
{
	struct gguf *g = NULL;
	struct gguf_writer *w = NULL;
	struct model_config cfg;
	int type = dtype ? ggml_type_from_name(dtype) : -1, rc;

	if (type < 0)
		return ada_fail_param(err, ADA_EINVAL, "type",
				      "unknown type '%s' (F32, F16, BF16, Q8_0, Q4_0, Q4_1, Q5_0, Q5_1, Q2_K, Q3_K, Q4_K, Q5_K, Q6_K)",
				      dtype ? dtype : "(none)");
	if ((rc = gguf_open(in_path, &g, err)))
		return rc;
	if ((rc = gguf_read_model_config(g, &cfg, err)) || (rc = gguf_writer_new(3, &w, err)))
		goto out_free;
	for (uint64_t i = 0; i < g->n_kv; i++) {
		if (!strcmp(g->kv[i].key, "general.file_type") ||
		    !strcmp(g->kv[i].key, "general.alignment"))
			continue;
		if ((rc = gguf_writer_copy_kv(w, &g->kv[i], err)))
			goto out_free;
	}
	for (uint64_t i = 0; i < g->n_tensors; i++) {
		const struct gguf_tensor *t = &g->tensors[i];
		uint32_t to = t->type;

		if (!quant_supported(t->type) || !t->data) {
			rc = ada_fail(err, ADA_EUNSUPPORTED, "%s: tensor '%s' has type %s, which we do not read",
				      in_path, t->name, ggml_type_name(t->type));
			goto out_free;
		}
		if (t->n_dims == 2)
			to = quant_fallback((uint32_t)type, t->dims[0]);
		rc = gguf_writer_add_tensor_typed(w, t->name, t->n_dims, t->dims, t->data, t->type, to,
						  err);
		if (rc)
			goto out_free;
	}
	rc = gguf_writer_write(w, out_path, err);
out_free:
	gguf_writer_free(w);
	gguf_close(g);
	return rc;
}
