/* batch_decode — many sequences of one base per step; see batch_decode.h. */
#include "infer/batch_decode.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "infer/rowdot.h"
#include "nn/gelu.h"
#include "nn/lowrank.h"
#include "nn/ops.h"
#include "nn/vexp.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fpenv.h"
#include "util/pool.h"

static int pad16(int n)
{
	return (n + 15) / 16 * 16;
}

/* ---- sequences ---------------------------------------------------------- */

/* Positions a cache grows by beyond what is asked, so that generation
 * reallocates it every so many tokens, not at each one. */
#define KV_SLACK 128

/* The cache holds at least need positions (at most max_pos): grown, its
 * layers copied to the new stride. */
static int seq_reserve(struct ada_seq *s, int need)
{
	const struct model_config *c = &s->m->base->model->cfg;
	const size_t KD = (size_t)c->n_kv_heads * c->head_dim, L = (size_t)c->n_layers;
	int cap = need;
	float *kc, *vc;

	if (need > s->max_pos)
		need = cap = s->max_pos;
	if (need <= s->cap)
		return ADA_OK;
	if (cap < 2 * s->cap)
		cap = 2 * s->cap;
	if (cap > s->max_pos)
		cap = s->max_pos;
	kc = xalloc_aligned(L * (size_t)cap * KD, sizeof(float));
	vc = xalloc_aligned(L * (size_t)cap * KD, sizeof(float));
	if (!kc || !vc) {
		free(kc);
		free(vc);
		return ADA_ENOMEM;
	}
	for (size_t l = 0; s->pos && l < L; l++) {
		memcpy(kc + l * (size_t)cap * KD, s->kc + l * (size_t)s->cap * KD,
		       sizeof(float) * (size_t)s->pos * KD);
		memcpy(vc + l * (size_t)cap * KD, s->vc + l * (size_t)s->cap * KD,
		       sizeof(float) * (size_t)s->pos * KD);
	}
	free(s->kc);
	free(s->vc);
	s->kc = kc;
	s->vc = vc;
	s->cap = cap;
	return ADA_OK;
}

int ada_seq_new(struct ada_served *m, const int32_t *prompt, size_t n_prompt, int max_new,
		const struct ada_sampling *s, struct ada_seq **out, struct ada_err *err)
{
	const struct model_config *c = &m->base->model->cfg;
	struct ada_seq *q;
	int64_t cap;

	*out = NULL;
	if (c->family != ADA_FAMILY_LLAMA || (m->ad && m->ad->is_classifier))
		return ada_fail_param(err, ADA_EINVAL, "model", "%s generates no text",
				      m->ad && m->ad->is_classifier ? "a classifier" : "an encoder");
	if (n_prompt < 1)
		return ada_fail_param(err, ADA_EINVAL, "prompt", "the prompt has no tokens");
	if (max_new < 1)
		return ada_fail_param(err, ADA_EINVAL, "max_tokens", "max_tokens must be at least 1");
	cap = (int64_t)n_prompt + max_new - 1;
	if (cap > c->context_length)
		return ada_fail_param(err, ADA_EINVAL, "max_tokens",
				      "the prompt (%zu tokens) and max_tokens (%d) exceed the model's context of %d tokens",
				      n_prompt, max_new, c->context_length);
	/* Sliding-window attention is not implemented (README): within the
	 * window full attention computes the same thing, beyond it not. */
	if (c->sliding_window > 0 && cap > c->sliding_window)
		return ada_fail_param(err, ADA_EINVAL, "max_tokens",
				      "the prompt (%zu tokens) and max_tokens (%d) go past the model's attention window of %d tokens, which is not implemented",
				      n_prompt, max_new, c->sliding_window);
	if (s->temperature < 0 || !isfinite(s->temperature))
		return ada_fail_param(err, ADA_EINVAL, "temperature", "temperature must be >= 0");
	if (!(s->top_p > 0 && s->top_p <= 1))
		return ada_fail_param(err, ADA_EINVAL, "top_p", "top_p must be in (0, 1]");
	if (s->top_logprobs < 0 || s->top_logprobs > ADA_TOP_LOGPROBS_MAX)
		return ada_fail_param(err, ADA_EINVAL, "top_logprobs",
				      "top_logprobs must be between 0 and %d", ADA_TOP_LOGPROBS_MAX);
	for (size_t i = 0; i < n_prompt; i++)
		if (prompt[i] < 0 || prompt[i] >= c->vocab_size)
			return ada_fail_param(err, ADA_EINVAL, "prompt",
					      "prompt token %zu is %d, outside the vocabulary (0..%d)", i,
					      prompt[i], c->vocab_size - 1);
	q = xcalloc(1, sizeof(*q));
	if (!q)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	q->m = ada_served_dup(m);
	q->prompt = xcalloc(n_prompt, sizeof(*q->prompt));
	q->max_pos = (int)cap;
	if (!q->m || !q->prompt || seq_reserve(q, (int)n_prompt + KV_SLACK) ||
	    sampler_init(&q->smp, c->vocab_size, s->temperature, s->top_p, s->seed)) {
		ada_seq_free(q);
		return ada_fail(err, ADA_ENOMEM, "out of memory for a sequence of %lld positions",
				(long long)cap);
	}
	memcpy(q->prompt, prompt, n_prompt * sizeof(*prompt));
	q->net = q->m->net;
	q->n_prompt = (int)n_prompt;
	q->max_new = max_new;
	q->logprobs = s->logprobs || s->top_logprobs > 0;
	q->top_logprobs = s->top_logprobs;
	*out = q;
	return ADA_OK;
}

void ada_seq_free(struct ada_seq *s)
{
	if (!s)
		return;
	sampler_release(&s->smp);
	free(s->kc);
	free(s->vc);
	free(s->prompt);
	ada_served_free(s->m);
	free(s);
}

int ada_seq_token(const struct ada_seq *s, struct ada_token *tok)
{
	if (!s->has_token)
		return 0;
	*tok = s->tok;
	return 1;
}

int ada_seq_can_step(const struct ada_seq *s)
{
	return s->n_chosen < s->max_new;
}

const struct ada_served *ada_seq_model(const struct ada_seq *s)
{
	return s->m;
}

/* ---- the workspace ------------------------------------------------------ */

int ada_decoder_new(int max_rows, struct ada_decoder **out, struct ada_err *err)
{
	struct ada_decoder *d;

	*out = NULL;
	if (max_rows < 1)
		return ada_fail_param(err, ADA_EINVAL, "max_rows", "max_rows must be at least 1");
	d = xcalloc(1, sizeof(*d));
	if (!d)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	d->max_rows = max_rows;
	d->row_seq = xcalloc((size_t)max_rows, sizeof(*d->row_seq));
	d->row_net = xcalloc((size_t)max_rows, sizeof(*d->row_net));
	d->row_tok = xcalloc((size_t)max_rows, sizeof(*d->row_tok));
	d->row_pos = xcalloc((size_t)max_rows, sizeof(*d->row_pos));
	if (!d->row_seq || !d->row_net || !d->row_tok || !d->row_pos) {
		ada_decoder_free(d);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	*out = d;
	return ADA_OK;
}

void ada_decoder_free(struct ada_decoder *d)
{
	if (!d)
		return;
	free(d->row_seq);
	free(d->row_net);
	free(d->row_tok);
	free(d->row_pos);
	free(d->arena);
	free(d->scratch);
	free(d->scores);
	free(d->small);
	free(d->logits);
	free(d->last);
	free(d);
}

/* buf holds at least n floats (64-byte aligned); contents not kept. */
static int grow(float **buf, size_t *have, size_t n)
{
	float *p;

	if (n <= *have)
		return ADA_OK;
	p = xalloc_aligned(n, sizeof(float));
	if (!p)
		return ADA_ENOMEM;
	free(*buf);
	*buf = p;
	*have = n;
	return ADA_OK;
}

/* Cut the arena for rows of net's shape. */
static int shape_arena(struct ada_decoder *d, const struct llama_dims *dm)
{
	const int qd = dm->n_heads * dm->head_dim, kd = dm->n_kv_heads * dm->head_dim;
	const size_t R = (size_t)d->max_rows;
	size_t floats;
	float *p;

	if (d->arena && d->dim == dm->dim && d->qd == qd && d->kd == kd && d->hidden == dm->hidden)
		return ADA_OK;
	d->sd = pad16(dm->dim);
	d->sq = pad16(qd);
	d->sk = pad16(kd);
	d->sf = pad16(dm->hidden);
	floats = R * (3 * (size_t)d->sd + 2 * (size_t)d->sq + 2 * (size_t)d->sk + 3 * (size_t)d->sf);
	free(d->arena);
	d->arena = xalloc_aligned(floats, sizeof(float));
	if (!d->arena) {
		d->dim = 0;
		return ADA_ENOMEM;
	}
	memset(d->arena, 0, floats * sizeof(float));
	d->arena_bytes = floats * sizeof(float);
	d->dim = dm->dim;
	d->qd = qd;
	d->kd = kd;
	d->hidden = dm->hidden;
	p = d->arena;
	d->x = p, p += R * d->sd;
	d->xn = p, p += R * d->sd;
	d->tmp = p, p += R * d->sd;
	d->q = p, p += R * d->sq;
	d->att = p, p += R * d->sq;
	d->k = p, p += R * d->sk;
	d->v = p, p += R * d->sk;
	d->g = p, p += R * d->sf;
	d->u = p, p += R * d->sf;
	d->h = p;
	return ADA_OK;
}

/* ---- products with a row's own adapter ---------------------------------- */

static struct rowdot_w lin_w(const struct linear *l)
{
	const float *f = l->w ? l->w : frozen_mat_f32(l->fw);

	return (struct rowdot_w){ .f32 = f, .fm = f ? NULL : l->fw, .rows = l->out, .cols = l->in };
}

static const struct linear *row_lin(const struct ada_decoder *d, int r, int l, int mod)
{
	return &d->row_net[r]->blocks[l].lin[mod];
}

/* y rows += scale * ((x Q^T) * g) P^T over rows [r0, r1), as lowrank.c
 * computes it, with the decoder's scratch. The second product goes through
 * the narrow rank in axpy form over P transposed (the adapter's Pt, or a
 * transposed copy made here when it keeps none: the same arithmetic). */
static int lora_rows(struct ada_decoder *d, const struct lowrank *lr, const float *x, int ldx,
		     float *y, int ldy, int n)
{
	const int r = lr->r, out = lr->base.out;
	struct rowdot_w q = { .f32 = lr->Q, .rows = r, .cols = lr->base.in };
	const float *Pt = lr->Pt;
	size_t need = (size_t)n * (size_t)r;

	if (r == 0)
		return ADA_OK;
	if (!Pt)
		need += (size_t)r * (size_t)out;
	if (grow(&d->small, &d->small_n, need))
		return ADA_ENOMEM;
	rowdot(&q, x, n, ldx, d->small, r, 0, NULL);
	for (long i = 0; i < n; i++)
		for (int j = 0; j < r; j++)
			d->small[i * r + j] = d->small[i * r + j] * lr->g[j] * lr->scale;
	if (!Pt) {
		float *t = d->small + (size_t)n * (size_t)r;

		for (int o = 0; o < out; o++)
			for (int j = 0; j < r; j++)
				t[(size_t)j * out + o] = lr->P[(size_t)o * r + j];
		Pt = t;
	}
	rowaxpy(Pt, r, out, d->small, n, r, y, ldy);
	return ADA_OK;
}

/* y[r] = x[r] W^T (+ b) (+ adapter) for every row of the step, with each
 * row's own linear layer l.mod: rows sharing a weight go through it together. */
static int lin_rows(struct ada_decoder *d, int l, int mod, const float *x, int ldx, float *y,
		    int ldy)
{
	const int R = d->n_rows;

	for (int r0 = 0; r0 < R;) {
		const struct linear *lin = row_lin(d, r0, l, mod);
		struct rowdot_w w = lin_w(lin);
		int r1 = r0 + 1;

		while (r1 < R && row_lin(d, r1, l, mod)->w == lin->w &&
		       row_lin(d, r1, l, mod)->fw == lin->fw)
			r1++;
		rowdot(&w, x + (size_t)r0 * ldx, r1 - r0, ldx, y + (size_t)r0 * ldy, ldy, 0,
		       d->scratch);
		r0 = r1;
	}
	for (int r = 0; r < R; r++) {
		const struct linear *lin = row_lin(d, r, l, mod);
		if (lin->b)
			bias_forward(y + (size_t)r * ldy, lin->b, 1, lin->out);
	}
	for (int r0 = 0; r0 < R;) {
		const struct adapter *ad = row_lin(d, r0, l, mod)->adapter;
		int r1 = r0 + 1;

		while (r1 < R && row_lin(d, r1, l, mod)->adapter == ad)
			r1++;
		if (ad && lora_rows(d, (const struct lowrank *)ad, x + (size_t)r0 * ldx, ldx,
				    y + (size_t)r0 * ldy, ldy, r1 - r0))
			return ADA_ENOMEM;
		r0 = r1;
	}
	return ADA_OK;
}

/* h[r] += up(act(down(h[r]))) for the rows whose block carries a
 * bottleneck at that place (ffn: after the FFN, else after attention). */
static int bottleneck_rows(struct ada_decoder *d, int l, int ffn, float *h, int ldh)
{
	const int R = d->n_rows;

	for (int r0 = 0; r0 < R;) {
		const struct llama_block *blk = &d->row_net[r0]->blocks[l];
		const struct bottleneck *bn = ffn ? blk->bn_ffn : blk->bn_attn;
		int r1 = r0 + 1, n, S;

		while (r1 < R && (ffn ? d->row_net[r1]->blocks[l].bn_ffn
				      : d->row_net[r1]->blocks[l].bn_attn) == bn)
			r1++;
		n = r1 - r0;
		if (!bn) {
			r0 = r1;
			continue;
		}
		S = pad16(bn->size);
		if (grow(&d->small, &d->small_n, (size_t)n * (size_t)S))
			return ADA_ENOMEM;
		{
			struct rowdot_w down = { .f32 = bn->w_down, .rows = bn->size, .cols = bn->dim };
			struct rowdot_w up = { .f32 = bn->w_up, .rows = bn->dim, .cols = bn->size };
			float *hr = h + (size_t)r0 * ldh;

			rowdot(&down, hr, n, ldh, d->small, S, 0, NULL);
			for (int i = 0; i < n; i++) {
				float *a = d->small + (size_t)i * S;
				if (bn->b_down)
					bias_forward(a, bn->b_down, 1, bn->size);
				if (bn->act == BOTTLENECK_GELU)
					gelu_forward(a, a, bn->size);
				else if (bn->act == BOTTLENECK_RELU)
					for (int j = 0; j < bn->size; j++)
						a[j] = a[j] > 0 ? a[j] : 0;
				else
					for (int j = 0; j < bn->size; j++)
						a[j] = a[j] / (1 + vexp(-a[j]));
			}
			rowdot(&up, d->small, n, S, hr, ldh, 1, NULL);
			for (int i = 0; bn->b_up && i < n; i++)
				bias_forward(hr + (size_t)i * ldh, bn->b_up, 1, bn->dim);
		}
		r0 = r1;
	}
	return ADA_OK;
}

/* ---- attention ------------------------------------------------------------ */

struct attn_job {
	struct ada_decoder *d;
	int layer, ctx;
};

/* One row: every head over its sequence's cache, positions 0..pos. */
static void attn_row(void *arg, long r, int thread)
{
	const struct attn_job *j = arg;
	struct ada_decoder *d = j->d;
	const struct ada_seq *s = d->row_seq[r];
	const struct llama_dims *dm = &s->net->d;
	const int hd = dm->head_dim, H = dm->n_heads, KD = dm->n_kv_heads * hd;
	const int rep = H / dm->n_kv_heads, pos = d->row_pos[r];
	const float scale = (float)(1.0 / sqrt((double)hd));
	const float *kc = s->kc + (size_t)j->layer * s->cap * KD;
	const float *vc = s->vc + (size_t)j->layer * s->cap * KD;
	float *scores = d->scores + (size_t)thread * j->ctx;

	for (int h = 0; h < H; h++) {
		const float *qh = d->q + (size_t)r * d->sq + h * hd;
		const int g = h / rep;
		float mx, sum = 0, *out = d->att + (size_t)r * d->sq + h * hd;

		for (int t = 0; t <= pos; t++) {
			const float *kt = kc + (size_t)t * KD + g * hd;
			float sc = 0;
			for (int i = 0; i < hd; i++)
				sc += qh[i] * kt[i];
			scores[t] = sc * scale;
		}
		mx = scores[0];
		for (int t = 1; t <= pos; t++)
			mx = scores[t] > mx ? scores[t] : mx;
		for (int t = 0; t <= pos; t++) {
			scores[t] = REAL_EXP(scores[t] - mx);
			sum += scores[t];
		}
		memset(out, 0, sizeof(float) * (size_t)hd);
		for (int t = 0; t <= pos; t++) {
			const float *vt = vc + (size_t)t * KD + g * hd;
			const float a = scores[t] / sum;
			for (int i = 0; i < hd; i++)
				out[i] += a * vt[i];
		}
	}
}

/* ---- choosing --------------------------------------------------------------- */

/* The chosen token's log-probability and the top ones (most likely first,
 * ties by id), from logits. */
static void logprobs(struct ada_seq *s, const float *logits, int V)
{
	double mx = logits[0], sum = 0, lse;
	int32_t *top = s->tok.top_id;
	const int k = s->top_logprobs;
	int n = 0;

	for (int i = 1; i < V; i++)
		mx = logits[i] > mx ? logits[i] : mx;
	for (int i = 0; i < V; i++)
		sum += exp((double)logits[i] - mx);
	lse = mx + log(sum);
	s->tok.logprob = (float)((double)logits[s->tok.id] - lse);
	for (int i = 0; i < V && k > 0; i++) {
		int at;

		if (n == k && !(logits[i] > logits[top[k - 1]]))
			continue;
		for (at = 0; at < n && !(logits[i] > logits[top[at]]); at++)
			;
		if (n < k)
			n++;
		memmove(&top[at + 1], &top[at], sizeof(*top) * (size_t)(n - 1 - at));
		top[at] = i;
	}
	s->tok.n_top = n;
	for (int i = 0; i < n; i++)
		s->tok.top_logprob[i] = (float)((double)logits[top[i]] - lse);
}

/* ---- the step --------------------------------------------------------------- */

/* Sequences by base, then by network (adapter), so that each base's rows
 * and each adapter's come together. */
static int by_base_net(const void *a, const void *b)
{
	const struct ada_seq *x = *(struct ada_seq *const *)a, *y = *(struct ada_seq *const *)b;

	if (x->m->base != y->m->base)
		return (uintptr_t)x->m->base < (uintptr_t)y->m->base ? -1 : 1;
	if (x->net != y->net)
		return (uintptr_t)x->net < (uintptr_t)y->net ? -1 : 1;
	return 0;
}

/* Rows for the step: every sequence in generation one, then prompts as far
 * as the rows go. order is seqs sorted by network (so adapters run together). */
static int plan_rows(struct ada_decoder *d, struct ada_seq **order, int n, struct ada_err *err)
{
	int budget = d->max_rows, R = 0;

	for (int i = 0; i < n; i++) {
		if (!ada_seq_can_step(order[i]))
			return ada_fail(err, ADA_EINVAL, "a sequence that has chosen its max_new tokens");
		budget -= order[i]->n_read == order[i]->n_prompt ? 1 : 0;
	}
	if (budget < 0)
		return ada_fail(err, ADA_EINVAL, "%d sequences in generation: more than the %d rows of a step",
				n, d->max_rows);
	/* Room in every cache first, so a failure leaves the sequences as they were. */
	for (int i = 0, left = budget; i < n; i++) {
		struct ada_seq *s = order[i];
		int take = s->n_read == s->n_prompt ? 1
			   : s->n_prompt - s->n_read < left ? s->n_prompt - s->n_read : left;

		if (s->n_read < s->n_prompt)
			left -= take;
		if (seq_reserve(s, s->pos + take + (s->n_read == s->n_prompt ? KV_SLACK : 0)))
			return ada_fail(err, ADA_ENOMEM, "out of memory for a sequence's key/value cache");
	}
	for (int i = 0; i < n; i++) {
		struct ada_seq *s = order[i];
		int take;

		s->has_token = 0;
		if (s->n_read == s->n_prompt) {
			d->row_seq[R] = s;
			d->row_tok[R] = s->last;
			d->row_pos[R++] = s->pos++;
			continue;
		}
		take = s->n_prompt - s->n_read < budget ? s->n_prompt - s->n_read : budget;
		budget -= take;
		for (int t = 0; t < take; t++) {
			d->row_seq[R] = s;
			d->row_tok[R] = s->prompt[s->n_read++];
			d->row_pos[R++] = s->pos++;
		}
	}
	d->n_rows = R;
	for (int r = 0; r < R; r++)
		d->row_net[r] = d->row_seq[r]->net;
	return ADA_OK;
}

static void embed_rows(struct ada_decoder *d)
{
	const int D = d->dim;

	for (int r = 0; r < d->n_rows; r++) {
		const struct llama_net *net = d->row_net[r];
		float *x = d->x + (size_t)r * d->sd;

		if (net->tok_emb)
			memcpy(x, net->tok_emb + (size_t)d->row_tok[r] * D, sizeof(float) * (size_t)D);
		else
			frozen_mat_tile(net->tok_emb_fw, d->row_tok[r], 1, 0, D, x, (size_t)D);
	}
}

/* out[r] = rmsnorm(x[r]) with each row's weight (norm_of picks it). */
static void norm_rows(struct ada_decoder *d, int l, int ffn, const float *x, float *out)
{
	for (int r = 0; r < d->n_rows; r++) {
		const struct llama_net *net = d->row_net[r];
		const float *w = ffn ? net->blocks[l].ffn_norm : net->blocks[l].attn_norm;
		float rstd;

		rmsnorm_forward(out + (size_t)r * d->sd, &rstd, x + (size_t)r * d->sd, w, 1, d->dim,
				net->d.norm_eps);
	}
}

/* The most columns of any matrix of the network (rowdot's scratch). */
static int widest(const struct llama_dims *dm)
{
	int w = dm->dim > dm->hidden ? dm->dim : dm->hidden;

	return w > dm->n_heads * dm->head_dim ? w : dm->n_heads * dm->head_dim;
}

static int layer(struct ada_decoder *d, int l, const struct served_base *b, int ctx)
{
	const struct llama_dims *dm = &b->net.d;
	const int hd = dm->head_dim, KD = dm->n_kv_heads * hd;
	struct attn_job aj = { d, l, ctx };
	int rc;

	norm_rows(d, l, 0, d->x, d->xn);
	if ((rc = lin_rows(d, l, MOD_Q, d->xn, d->sd, d->q, d->sq)) ||
	    (rc = lin_rows(d, l, MOD_K, d->xn, d->sd, d->k, d->sk)) ||
	    (rc = lin_rows(d, l, MOD_V, d->xn, d->sd, d->v, d->sk)))
		return rc;
	for (int r = 0; r < d->n_rows; r++) {
		struct ada_seq *s = d->row_seq[r];
		const size_t at = ((size_t)l * s->cap + (size_t)d->row_pos[r]) * KD;

		rope_forward_pos(d->q + (size_t)r * d->sq, b->rope_cos, b->rope_sin, d->row_pos[r],
				 dm->n_heads, hd);
		rope_forward_pos(d->k + (size_t)r * d->sk, b->rope_cos, b->rope_sin, d->row_pos[r],
				 dm->n_kv_heads, hd);
		memcpy(s->kc + at, d->k + (size_t)r * d->sk, sizeof(float) * (size_t)KD);
		memcpy(s->vc + at, d->v + (size_t)r * d->sk, sizeof(float) * (size_t)KD);
	}
	pool_run(d->n_rows, 0, attn_row, &aj);
	if ((rc = lin_rows(d, l, MOD_O, d->att, d->sq, d->tmp, d->sd)) ||
	    (rc = bottleneck_rows(d, l, 0, d->tmp, d->sd)))
		return rc;
	for (int r = 0; r < d->n_rows; r++)
		add_inplace(d->x + (size_t)r * d->sd, d->tmp + (size_t)r * d->sd, d->dim);
	norm_rows(d, l, 1, d->x, d->xn);
	if ((rc = lin_rows(d, l, MOD_GATE, d->xn, d->sd, d->g, d->sf)) ||
	    (rc = lin_rows(d, l, MOD_UP, d->xn, d->sd, d->u, d->sf)))
		return rc;
	for (int r = 0; r < d->n_rows; r++)
		swiglu_forward(d->h + (size_t)r * d->sf, d->g + (size_t)r * d->sf,
			       d->u + (size_t)r * d->sf, dm->hidden);
	if ((rc = lin_rows(d, l, MOD_DOWN, d->h, d->sf, d->tmp, d->sd)) ||
	    (rc = bottleneck_rows(d, l, 1, d->tmp, d->sd)))
		return rc;
	for (int r = 0; r < d->n_rows; r++)
		add_inplace(d->x + (size_t)r * d->sd, d->tmp + (size_t)r * d->sd, d->dim);
	return ADA_OK;
}

/* Logits of the sequences whose reading ended in this step, then their choice. */
static int choose(struct ada_decoder *d, struct ada_seq **order, int n)
{
	const int V = order[0]->net->d.vocab;
	int S = 0, *last_row = NULL;
	struct ada_seq **fin = NULL;

	for (int r = 0; r < d->n_rows; r++)
		S += (r + 1 == d->n_rows || d->row_seq[r + 1] != d->row_seq[r]) &&
		     d->row_seq[r]->n_read == d->row_seq[r]->n_prompt;
	if (!S)
		return ADA_OK;
	last_row = xcalloc((size_t)S, sizeof(*last_row));
	fin = xcalloc((size_t)S, sizeof(*fin));
	if (!last_row || !fin || grow(&d->last, &d->last_n, (size_t)S * d->sd) ||
	    grow(&d->logits, &d->logits_n, (size_t)S * (size_t)V)) {
		free(last_row);
		free(fin);
		return ADA_ENOMEM;
	}
	S = 0;
	for (int r = 0; r < d->n_rows; r++)
		if ((r + 1 == d->n_rows || d->row_seq[r + 1] != d->row_seq[r]) &&
		    d->row_seq[r]->n_read == d->row_seq[r]->n_prompt) {
			const struct llama_net *net = d->row_net[r];
			float rstd;

			rmsnorm_forward(d->last + (size_t)S * d->sd, &rstd, d->x + (size_t)r * d->sd,
					net->final_norm, 1, d->dim, net->d.norm_eps);
			last_row[S] = r;
			fin[S++] = d->row_seq[r];
		}
	for (int i0 = 0; i0 < S;) {
		const struct llama_net *net = fin[i0]->net;
		const float *f = net->output ? net->output : frozen_mat_f32(net->output_fw);
		struct rowdot_w w = { .f32 = f, .fm = f ? NULL : net->output_fw, .rows = V,
				      .cols = d->dim };
		int i1 = i0 + 1;

		while (i1 < S && fin[i1]->net->output == net->output &&
		       fin[i1]->net->output_fw == net->output_fw)
			i1++;
		rowdot(&w, d->last + (size_t)i0 * d->sd, i1 - i0, d->sd,
		       d->logits + (size_t)i0 * V, V, 0, d->scratch);
		i0 = i1;
	}
	for (int i = 0; i < S; i++) {
		struct ada_seq *s = fin[i];
		const float *lg = d->logits + (size_t)i * V;

		memset(&s->tok, 0, sizeof(s->tok));
		s->logits = lg;
		s->tok.id = sampler_next(&s->smp, lg);
		if (s->logprobs)
			logprobs(s, lg, V);
		s->last = s->tok.id;
		s->has_token = 1;
		s->n_chosen++;
	}
	(void)order;
	(void)n;
	free(last_row);
	free(fin);
	return ADA_OK;
}

/* One step of n sequences of base b (order: sorted by network). */
static int step_base(struct ada_decoder *d, const struct served_base *b, struct ada_seq **order,
		     int n, struct ada_err *err)
{
	const int threads = pool_threads(), ctx = b->model->cfg.context_length;
	int rc;

	if ((rc = plan_rows(d, order, n, err)))
		return rc;
	if (shape_arena(d, &b->net.d) ||
	    grow(&d->scratch, &d->scratch_n, (size_t)threads * rowdot_scratch(widest(&b->net.d))) ||
	    grow(&d->scores, &d->scores_n, (size_t)threads * (size_t)ctx))
		return ada_fail(err, ADA_ENOMEM, "out of memory for a decoding step");
	embed_rows(d);
	for (int l = 0; l < b->net.d.n_layers; l++)
		if ((rc = layer(d, l, b, ctx)))
			return ada_fail(err, rc, "out of memory for a decoding step");
	if ((rc = choose(d, order, n)))
		return ada_fail(err, rc, "out of memory for a decoding step");
	return ADA_OK;
}

int ada_decode_step(struct ada_decoder *d, struct ada_seq *const *seqs, int n,
		    struct ada_err *err)
{
	struct ada_seq **order;
	int rc = ADA_OK;

	if (n <= 0)
		return ADA_OK;
	fpenv_flush_subnormals();
	order = xcalloc((size_t)n, sizeof(*order));
	if (!order)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	memcpy(order, seqs, sizeof(*order) * (size_t)n);
	qsort(order, (size_t)n, sizeof(*order), by_base_net);
	/* Each base's sequences through its weights together, base after base. */
	for (int i0 = 0, i1; i0 < n && !rc; i0 = i1) {
		const struct served_base *b = order[i0]->m->base;
		for (i1 = i0 + 1; i1 < n && order[i1]->m->base == b; i1++)
			;
		rc = step_base(d, b, order + i0, i1 - i0, err);
	}
	free(order);
	return rc;
}
