/*
 * merge — ada_export_merged(): fold an adapter into its base model and
 * write the result as a whole model (`adalora export --merge`).
 *
 * For each adapted module W' = W + scale * P diag(g) Q, formed once here
 * (never during training); then the network's linear layers point at the
 * merged copies and the exporters write GGUF (with the base's tokenizer
 * metadata when it came from GGUF) or a Hugging Face directory, in the
 * dtype asked: F32, F16 or BF16. The default is F32, or F16 when the base
 * has quantized matrices: a merged delta is not quantized, and writing it
 * back to Q4_K would silently throw most of it away, so we never do.
 */
#include <stdlib.h>
#include <string.h>

#include "format/quant.h"
#include "nn/blas.h"
#include "adapter/export_model.h"
#include "util/alloc.h"
#include "util/err.h"
#include "infer/inference_net.h"

int ada_export_merged(const struct ada_infer_opts *o, const char *out, const char *format,
		      struct ada_err *err)
{
	return ada_export_merged_dtype(o, out, format, NULL, err);
}

int ada_export_merged_dtype(const struct ada_infer_opts *o, const char *out, const char *format,
			    const char *dtype, struct ada_err *err)
{
	struct inference_net in;
	float **merged = NULL;
	int type = dtype ? ggml_type_from_name(dtype) : -1, rc, n = 0;

	if (!format || (strcmp(format, "gguf") && strcmp(format, "hf")))
		return ada_fail_param(err, ADA_EINVAL, "format", "format must be \"gguf\" or \"hf\"");
	if (dtype && type != GGML_TYPE_F32 && type != GGML_TYPE_F16 && type != GGML_TYPE_BF16)
		return ada_fail_param(err, ADA_EINVAL, "dtype",
				      "dtype must be F32, F16 or BF16 (a merged model is never re-quantized), not '%s'",
				      dtype);
	if ((rc = inference_net_open(&in, o, err)))
		return rc;
	if (!dtype) {
		char types[64];
		type = model_weight_types(in.model, types, sizeof(types)) & ~((1ull << GGML_TYPE_F32) |
			(1ull << GGML_TYPE_F16) | (1ull << GGML_TYPE_BF16)) ? GGML_TYPE_F16 : GGML_TYPE_F32;
	}
	/* What the exporters cannot write: an encoder, a head, a bottleneck. */
	if (in.model->cfg.family != ADA_FAMILY_LLAMA || in.is_classifier || in.adapter.n_bns) {
		rc = ada_fail(err, ADA_EUNSUPPORTED,
			      "%s: only a causal LM's LoRA, AdaLoRA or BitFit adapter on a Llama-family model can be merged",
			      o->adapter ? o->adapter : o->model);
		goto out_close;
	}
	merged = xcalloc((size_t)in.adapter.n_mods + 1, sizeof(*merged));
	if (!merged) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory");
		goto out_close;
	}
	for (int i = 0; i < in.adapter.n_mods; i++) {
		const struct peft_module *pm = &in.adapter.mods[i];
		const struct lowrank *lr = pm->lr;
		struct linear *lin = &in.net.blocks[pm->layer].lin[pm->module];
		const int out_d = lin->out, in_d = lin->in, k = lr->r;
		float *w = xcalloc((size_t)out_d * in_d, sizeof(float));
		float *pg = xcalloc((size_t)out_d * (k > 0 ? k : 1), sizeof(float));

		if (!w || !pg) {
			free(w);
			free(pg);
			rc = ada_fail(err, ADA_ENOMEM, "out of memory merging the adapter");
			goto out_free;
		}
		if (lin->w)
			memcpy(w, lin->w, sizeof(float) * (size_t)out_d * in_d);
		else
			frozen_mat_read(lin->fw, w);
		for (int r = 0; r < out_d; r++)
			for (int j = 0; j < k; j++)
				pg[(size_t)r * k + j] = lr->P[(size_t)r * k + j] * lr->g[j];
		gemm(0, 0, out_d, in_d, k, lr->scale, pg, k, lr->Q, in_d, 1, w, in_d);
		free(pg);
		merged[n++] = w;
		lin->w = w;
		lin->adapter = NULL;
	}
	rc = !strcmp(format, "gguf") ? export_model_gguf(in.model, &in.net, out, (uint32_t)type, err)
				      : export_model_hf(in.model, &in.net, out, (uint32_t)type, err);
out_free:
	for (int i = 0; i < n; i++)
		free(merged[i]);
	free(merged);
out_close:
	inference_net_close(&in);
	return rc;
}
