/*
 * model_llama2c — Karpathy's llama2.c checkpoints -> struct model.
 *
 * Two float32 layouts (llama2.c export.py):
 *   v0 ("legacy"): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads,
 *      vocab_size, seq_len; a negative vocab_size means the classifier is
 *      stored separately), then token_embedding, rms_att[L], wq[L], wk[L],
 *      wv[L], wo[L], rms_ffn[L], w1[L], w2[L], w3[L], rms_final, a RoPE table
 *      (freq_cis_real and _imag, seq_len * head_size / 2 floats each, which
 *      we skip: RoPE is computed), and the classifier if not shared;
 *   v1: magic "ak42", int32 version 1, the 7 ints, uint8 shared_classifier,
 *      zeros to 256 bytes, then rms_att[L], rms_ffn[L], rms_final,
 *      token_embedding, wq[L], wk[L], wv[L], wo[L], w1[L], w2[L], w3[L], and
 *      the classifier if not shared.
 * Neither says where it ends, so the file size implied by the header
 * (overflow-checked) must equal the real size exactly: anything else is a
 * truncated or foreign file. v0 has no magic at all, so detection accepts
 * a v0 header only when its numbers are plausible for a Llama model.
 *
 * All weights point into the mapping (the header sizes keep them 4-byte
 * aligned) and are checked finite, named as llama2.c's PyTorch model names
 * them (layers.3.attention.wq.weight). w1 is the gate, w3 the up and w2 the down projection; Q/K are
 * already in the adjacent-pair RoPE layout. RMSNorm eps 1e-5 and RoPE theta
 * 10000 are llama2.c's fixed values.
 */
#include "model/model_loader.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/alloc.h"
#include "util/err.h"

/* Plausibility bounds for sniffing a magic-less v0 header. */
#define V0_MAX_DIM     (1 << 16)
#define V0_MAX_HIDDEN  (1 << 20)
#define V0_MAX_LAYERS  1024
#define V0_MAX_VOCAB   (1 << 22)
#define V0_MAX_SEQ     (1 << 24)

static int32_t get_i32(const uint8_t *p)
{
	int32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static int plausible_v0(const uint8_t *head)
{
	int32_t dim = get_i32(head), hidden = get_i32(head + 4), layers = get_i32(head + 8);
	int32_t heads = get_i32(head + 12), kv = get_i32(head + 16);
	int32_t vocab = get_i32(head + 20), seq = get_i32(head + 24);

	if (vocab < 0 && vocab != INT32_MIN)
		vocab = -vocab;
	return dim > 0 && dim <= V0_MAX_DIM && hidden > 0 && hidden <= V0_MAX_HIDDEN &&
	       layers > 0 && layers <= V0_MAX_LAYERS && heads > 0 && dim % heads == 0 &&
	       (dim / heads) % 2 == 0 && kv > 0 && kv <= heads && heads % kv == 0 &&
	       vocab > 0 && vocab <= V0_MAX_VOCAB && seq > 0 && seq <= V0_MAX_SEQ;
}

int llama2c_sniff(const uint8_t *head, size_t len)
{
	uint32_t magic;

	if (len >= 4) {
		memcpy(&magic, head, 4);
		if (magic == LLAMA2C_MAGIC)
			return 1;
	}
	return len >= LLAMA2C_V0_HEADER && plausible_v0(head);
}

/* Floats in the file after the header. The config is already checked, so a
 * layer's size fits easily; the products with n_layers and vocab are checked. */
static int payload_floats(const struct llama2c_header *h, uint64_t *out)
{
	const struct model_config *c = &h->cfg;
	uint64_t dim = (uint64_t)c->dim, L = (uint64_t)c->n_layers;
	uint64_t kv_dim = (uint64_t)c->n_kv_heads * (uint64_t)c->head_dim;
	uint64_t emb, layer, n;
	int bad = 0;

	bad |= __builtin_mul_overflow((uint64_t)c->vocab_size, dim, &emb);
	/* rms_att + wq + wk + wv + wo + rms_ffn + w1 + w2 + w3 */
	layer = 2 * dim + 2 * dim * dim + 2 * dim * kv_dim + 3 * dim * (uint64_t)c->hidden_dim;
	bad |= __builtin_mul_overflow(layer, L, &n);
	bad |= __builtin_add_overflow(n, emb + dim, &n);
	if (h->version == 0)   /* freq_cis_real and freq_cis_imag: 2 x seq_len x head_dim/2 */
		bad |= __builtin_add_overflow(n, (uint64_t)c->context_length * (uint64_t)c->head_dim,
					      &n);
	if (!h->shared_classifier)
		bad |= __builtin_add_overflow(n, emb, &n);
	*out = n;
	return bad ? -1 : 0;
}

int llama2c_parse_header(const char *path, const uint8_t *head, size_t len,
			 uint64_t file_size, struct llama2c_header *h, struct ada_err *err)
{
	struct model_config *c = &h->cfg;
	const uint8_t *ints;
	uint64_t floats, expect;
	int32_t vocab;
	uint32_t magic = 0;
	int rc;

	memset(h, 0, sizeof(*h));
	if (len >= 4)
		memcpy(&magic, head, 4);
	if (magic == LLAMA2C_MAGIC) {
		if (len < LLAMA2C_V1_HEADER)
			return ada_fail(err, ADA_EFORMAT,
					"%s: truncated llama2.c header (%zu of %d bytes)",
					path, len, LLAMA2C_V1_HEADER);
		h->version = get_i32(head + 4);
		if (h->version != 1)
			return ada_fail(err, ADA_EUNSUPPORTED,
					"%s: llama2.c checkpoint version %d is not supported (0 and 1 are; 2 is int8-quantized)",
					path, h->version);
		h->header_bytes = LLAMA2C_V1_HEADER;
		ints = head + 8;
		h->shared_classifier = head[36] != 0;
		vocab = get_i32(ints + 20);
	} else {
		if (len < LLAMA2C_V0_HEADER)
			return ada_fail(err, ADA_EFORMAT, "%s: too short for a llama2.c header", path);
		h->version = 0;
		h->header_bytes = LLAMA2C_V0_HEADER;
		ints = head;
		vocab = get_i32(ints + 20);
		h->shared_classifier = vocab > 0;
		if (vocab < 0 && vocab != INT32_MIN)
			vocab = -vocab;
	}

	c->family = ADA_FAMILY_LLAMA;
	snprintf(c->arch, sizeof(c->arch), "llama");
	c->dim = get_i32(ints);
	c->hidden_dim = get_i32(ints + 4);
	c->n_layers = get_i32(ints + 8);
	c->n_heads = get_i32(ints + 12);
	c->n_kv_heads = get_i32(ints + 16);
	c->vocab_size = vocab;
	c->context_length = get_i32(ints + 24);
	c->rope_theta = 10000.0f;
	c->norm_eps = 1e-5f;
	c->tied_output = h->shared_classifier;
	if (c->n_heads <= 0 || c->dim % c->n_heads)
		return ada_fail_param(err, ADA_EFORMAT, "n_heads",
				      "%s: llama2.c header: dim (%d) is not a multiple of n_heads (%d)",
				      path, c->dim, c->n_heads);
	c->head_dim = c->dim / c->n_heads;
	rc = model_config_check(c, path, err);
	if (rc)
		return rc;

	if (payload_floats(h, &floats) ||
	    __builtin_mul_overflow(floats, (uint64_t)sizeof(float), &expect) ||
	    __builtin_add_overflow(expect, (uint64_t)h->header_bytes, &expect))
		return ada_fail(err, ADA_EFORMAT, "%s: llama2.c header implies an impossible size", path);
	if (expect != file_size)
		return ada_fail(err, ADA_EFORMAT,
				"%s: llama2.c v%d checkpoint (dim %d, hidden %d, %d layers, %d/%d heads, vocab %d, seq %d, %s classifier) should be %llu bytes but is %llu: %s",
				path, h->version, c->dim, c->hidden_dim, c->n_layers, c->n_heads,
				c->n_kv_heads, c->vocab_size, c->context_length,
				h->shared_classifier ? "shared" : "separate",
				(unsigned long long)expect, (unsigned long long)file_size,
				file_size < expect ? "truncated" : "unexpected trailing data");
	return ADA_OK;
}

int llama2c_probe(const char *path, struct model_config *cfg, struct ada_err *err)
{
	uint8_t head[LLAMA2C_V1_HEADER];
	struct llama2c_header h;
	struct stat st;
	size_t got = 0;
	int fd, rc;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return ada_fail(err, errno == ENOENT ? ADA_ENOTFOUND : ADA_EIO, "%s: %s",
				path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		rc = ada_fail(err, ADA_EIO, "%s: %s", path, strerror(errno));
		goto out_close;
	}
	while (got < sizeof(head)) {
		ssize_t n = read(fd, head + got, sizeof(head) - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			rc = ada_fail(err, ADA_EIO, "%s: read: %s", path, strerror(errno));
			goto out_close;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	rc = llama2c_parse_header(path, head, got, (uint64_t)st.st_size, &h, err);
	if (!rc)
		*cfg = h.cfg;
out_close:
	close(fd);
	return rc;
}

/* Hands out consecutive tensors; the exact-size check made every take fit. */
struct walker {
	const float *p;
};

/* The next n floats as the tensor llama2.c's PyTorch model calls
 * "layers.<layer>.<leaf>" (or leaf when layer < 0), checked finite. */
static int take(const struct model *m, struct walker *w, size_t n, int layer, const char *leaf,
		const float **out, struct ada_err *err)
{
	char name[96];

	*out = w->p;
	w->p += n;
	if (layer >= 0)
		snprintf(name, sizeof(name), "layers.%d.%s", layer, leaf);
	else
		snprintf(name, sizeof(name), "%s", leaf);
	return model_check_finite(m, name, *out, n, err);
}

int model_load_llama2c(struct model *m, struct ada_err *err)
{
	const struct model_config *c = &m->cfg;
	struct llama2c_header h;
	struct mapped_file *mf;
	struct walker w;
	size_t dim, hidden, kv_dim, L;
	int rc;

	snprintf(m->format, sizeof(m->format), "llama2c");
	m->maps = calloc(1, sizeof(*m->maps));
	if (!m->maps)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	mf = &m->maps[0];
	rc = mapped_file_open(m->path, mf, err);
	if (rc)
		return rc;
	m->n_maps = 1;
	rc = llama2c_parse_header(m->path, mf->data, mf->size, mf->size, &h, err);
	if (rc)
		return rc;
	m->cfg = h.cfg;
	rc = model_alloc_layers(m, err);
	if (rc)
		return rc;

	dim = (size_t)c->dim;
	hidden = (size_t)c->hidden_dim;
	kv_dim = (size_t)c->n_kv_heads * (size_t)c->head_dim;
	L = (size_t)c->n_layers;
	w.p = (const float *)(const void *)(mf->data + h.header_bytes);

#define EACH_LAYER(field, n, leaf) \
	for (size_t i = 0; i < L && !rc; i++) \
		rc = take(m, &w, n, (int)i, leaf, &m->layers[i].field, err)
#define ONE(out, n, name) do { \
		if (!rc) \
			rc = take(m, &w, n, -1, name, out, err); \
	} while (0)
	/* Matrices: f32 views of the mapping, rows x cols. */
#define EACH_MAT(field, rows, cols, leaf) \
	for (size_t i = 0; i < L && !rc; i++) { \
		const float *_p = NULL; \
		rc = take(m, &w, (rows) * (cols), (int)i, leaf, &_p, err); \
		m->layers[i].field = frozen_mat_of_f32(_p, (int)(rows), (int)(cols)); \
	}
#define ONE_MAT(out, rows, cols, name) do { \
		const float *_p = NULL; \
		if (!rc) \
			rc = take(m, &w, (rows) * (cols), -1, name, &_p, err); \
		*(out) = frozen_mat_of_f32(_p, (int)(rows), (int)(cols)); \
	} while (0)
	if (h.version == 0) {
		ONE_MAT(&m->tok_emb, (size_t)c->vocab_size, dim, "tok_embeddings.weight");
		EACH_LAYER(attn_norm, dim, "attention_norm.weight");
		EACH_MAT(wq, dim, dim, "attention.wq.weight");
		EACH_MAT(wk, kv_dim, dim, "attention.wk.weight");
		EACH_MAT(wv, kv_dim, dim, "attention.wv.weight");
		EACH_MAT(wo, dim, dim, "attention.wo.weight");
		EACH_LAYER(ffn_norm, dim, "ffn_norm.weight");
		EACH_MAT(w_gate, hidden, dim, "feed_forward.w1.weight");
		EACH_MAT(w_down, dim, hidden, "feed_forward.w2.weight");
		EACH_MAT(w_up, hidden, dim, "feed_forward.w3.weight");
		ONE(&m->final_norm, dim, "norm.weight");
		w.p += (size_t)c->context_length * (size_t)c->head_dim;   /* RoPE table: unused */
	} else {
		EACH_LAYER(attn_norm, dim, "attention_norm.weight");
		EACH_LAYER(ffn_norm, dim, "ffn_norm.weight");
		ONE(&m->final_norm, dim, "norm.weight");
		ONE_MAT(&m->tok_emb, (size_t)c->vocab_size, dim, "tok_embeddings.weight");
		EACH_MAT(wq, dim, dim, "attention.wq.weight");
		EACH_MAT(wk, kv_dim, dim, "attention.wk.weight");
		EACH_MAT(wv, kv_dim, dim, "attention.wv.weight");
		EACH_MAT(wo, dim, dim, "attention.wo.weight");
		EACH_MAT(w_gate, hidden, dim, "feed_forward.w1.weight");
		EACH_MAT(w_down, dim, hidden, "feed_forward.w2.weight");
		EACH_MAT(w_up, hidden, dim, "feed_forward.w3.weight");
	}
	if (h.shared_classifier)
		m->output = m->tok_emb;
	else
		ONE_MAT(&m->output, (size_t)c->vocab_size, dim, "output.weight");
#undef ONE
#undef ONE_MAT
#undef EACH_LAYER
#undef EACH_MAT
	return rc;
}
