/* decoder — incremental decoding with a KV cache; see decoder.h. */
#include "infer/decoder.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "adalora.h"
#include "nn/blas.h"
#include "nn/frozen.h"
#include "nn/ops.h"
#include "util/alloc.h"

int decoder_init(struct decoder *dec, const struct llama_net *net, int max_seq)
{
	const struct llama_dims *d = &net->d;
	const size_t L = (size_t)d->n_layers, S = (size_t)max_seq, D = (size_t)d->dim;
	const size_t QD = (size_t)d->n_heads * d->head_dim, KD = (size_t)d->n_kv_heads * d->head_dim;
	const size_t F = (size_t)d->hidden, half = (size_t)d->head_dim / 2;
	size_t sizes[] = { L * S * KD, L * S * KD, D, D, QD, KD, KD, QD, D, F, F, F, S,
			   (size_t)d->vocab, S * half, S * half };
	real **ptrs[] = { &dec->key_cache, &dec->value_cache, &dec->x, &dec->xn, &dec->q, &dec->k,
			  &dec->v, &dec->att_out, &dec->tmp, &dec->g, &dec->u, &dec->h,
			  &dec->scores, &dec->logits, &dec->rope_cos, &dec->rope_sin };
	size_t total = 0;
	char *p;

	memset(dec, 0, sizeof(*dec));
	if (max_seq <= 0)
		return ADA_EINVAL;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++)
		total += (sizes[i] * sizeof(real) + 63) & ~(size_t)63;
	dec->mem = xalloc_aligned(total, 1);
	if (!dec->mem)
		return ADA_ENOMEM;
	p = dec->mem;
	for (size_t i = 0; i < sizeof(sizes) / sizeof(sizes[0]); i++) {
		*ptrs[i] = (real *)p;
		p += (sizes[i] * sizeof(real) + 63) & ~(size_t)63;
	}
	dec->net = net;
	dec->max_seq = max_seq;
	rope_tables(dec->rope_cos, dec->rope_sin, max_seq, d->head_dim, d->rope_theta);
	return ADA_OK;
}

void decoder_release(struct decoder *dec)
{
	free(dec->mem);
	memset(dec, 0, sizeof(*dec));
}

const real *decoder_step(struct decoder *dec, int token, int pos)
{
	const struct llama_net *net = dec->net;
	const struct llama_dims *d = &net->d;
	const int D = d->dim, F = d->hidden, hd = d->head_dim, H = d->n_heads;
	const int KVH = d->n_kv_heads, KD = KVH * hd, rep = H / KVH;
	const real scale = (real)(1.0 / sqrt((double)hd));
	const struct nn_step st = { .training = 0 };
	real rstd;

	if (net->tok_emb)
		memcpy(dec->x, net->tok_emb + (size_t)token * D, sizeof(real) * (size_t)D);
	else
		frozen_rows(net->tok_emb_fw, &token, 1, dec->x);
	for (int l = 0; l < d->n_layers; l++) {
		const struct llama_block *blk = &net->blocks[l];
		real *kc = dec->key_cache + ((size_t)l * dec->max_seq) * KD;
		real *vc = dec->value_cache + ((size_t)l * dec->max_seq) * KD;

		rmsnorm_forward(dec->xn, &rstd, dec->x, blk->attn_norm, 1, D, d->norm_eps);
		linear_forward(&blk->lin[MOD_Q], dec->xn, 1, dec->q, &st);
		linear_forward(&blk->lin[MOD_K], dec->xn, 1, dec->k, &st);
		linear_forward(&blk->lin[MOD_V], dec->xn, 1, dec->v, &st);
		rope_forward_pos(dec->q, dec->rope_cos, dec->rope_sin, pos, H, hd);
		rope_forward_pos(dec->k, dec->rope_cos, dec->rope_sin, pos, KVH, hd);
		memcpy(kc + (size_t)pos * KD, dec->k, sizeof(real) * (size_t)KD);
		memcpy(vc + (size_t)pos * KD, dec->v, sizeof(real) * (size_t)KD);
		for (int h = 0; h < H; h++) {
			const real *qh = dec->q + h * hd;
			const int g = h / rep;
			real mx, sum = 0, *out = dec->att_out + h * hd;

			for (int t = 0; t <= pos; t++) {
				const real *kt = kc + (size_t)t * KD + g * hd;
				real s = 0;
				for (int i = 0; i < hd; i++)
					s += qh[i] * kt[i];
				dec->scores[t] = s * scale;
			}
			mx = dec->scores[0];
			for (int t = 1; t <= pos; t++)
				mx = dec->scores[t] > mx ? dec->scores[t] : mx;
			for (int t = 0; t <= pos; t++) {
				dec->scores[t] = REAL_EXP(dec->scores[t] - mx);
				sum += dec->scores[t];
			}
			memset(out, 0, sizeof(real) * (size_t)hd);
			for (int t = 0; t <= pos; t++) {
				const real *vt = vc + (size_t)t * KD + g * hd;
				const real a = dec->scores[t] / sum;
				for (int i = 0; i < hd; i++)
					out[i] += a * vt[i];
			}
		}
		linear_forward(&blk->lin[MOD_O], dec->att_out, 1, dec->tmp, &st);
		add_inplace(dec->x, dec->tmp, D);
		rmsnorm_forward(dec->xn, &rstd, dec->x, blk->ffn_norm, 1, D, d->norm_eps);
		linear_forward(&blk->lin[MOD_GATE], dec->xn, 1, dec->g, &st);
		linear_forward(&blk->lin[MOD_UP], dec->xn, 1, dec->u, &st);
		swiglu_forward(dec->h, dec->g, dec->u, F);
		linear_forward(&blk->lin[MOD_DOWN], dec->h, 1, dec->tmp, &st);
		add_inplace(dec->x, dec->tmp, D);
	}
	rmsnorm_forward(dec->xn, &rstd, dec->x, net->final_norm, 1, D, d->norm_eps);
	if (net->output)
		gemm(0, 1, 1, d->vocab, D, 1, dec->xn, D, net->output, D, 0, dec->logits, d->vocab);
	else
		frozen_forward(net->output_fw, dec->xn, 1, dec->logits, NULL);
	return dec->logits;
}
