/*
 * beam — greedy and beam search over struct seq2seq_step_ops; see beam.h
 * for the semantics (Hugging Face's generate()) and the calls a decoder gets.
 *
 * The search owns every buffer: the logits the decoder fills, the processed
 * scores, the live sequences (double-buffered, reordered with the beams) and
 * the kept finished hypotheses. Sequences are whole (start token included)
 * because no_repeat_ngram_size looks at all of it, as HF's input_ids.
 */
#include "net/beam.h"

#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "util/alloc.h"
#include "util/err.h"

#define BEAM_MAX_BEAMS 256
#define BEAM_MAX_LENGTH (1 << 20)

void beam_opts_default(struct beam_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->num_beams = 1;
	o->max_length = 20;
	o->min_length = 0;
	o->length_penalty = 1.0;
	o->no_repeat_ngram_size = 0;
	o->early_stopping = BEAM_STOP_FALSE;
	o->decoder_start_token_id = 2;
	o->eos_token_id = 2;
	o->forced_bos_token_id = -1;
	o->forced_eos_token_id = -1;
}

static int check_token(int id, int vocab, int allow_none, const char *param, struct ada_err *err)
{
	if ((allow_none && id == -1) || (id >= 0 && id < vocab))
		return ADA_OK;
	return ada_fail_param(err, ADA_EINVAL, param, "%s %d is not a token of the vocabulary (0..%d)%s",
			      param, id, vocab - 1, allow_none ? " or -1 (none)" : "");
}

int beam_opts_check(const struct beam_opts *o, int vocab, struct ada_err *err)
{
	int rc;

	if (vocab < 2)
		return ada_fail_param(err, ADA_EINVAL, "vocab", "a vocabulary of %d tokens cannot be searched", vocab);
	if (o->num_beams < 1 || o->num_beams > BEAM_MAX_BEAMS)
		return ada_fail_param(err, ADA_EINVAL, "num_beams", "num_beams must be in [1, %d], not %d",
				      BEAM_MAX_BEAMS, o->num_beams);
	if (o->max_length < 2 || o->max_length > BEAM_MAX_LENGTH)
		return ada_fail_param(err, ADA_EINVAL, "max_length",
				      "max_length (counting the decoder start token) must be in [2, %d], not %d",
				      BEAM_MAX_LENGTH, o->max_length);
	if (o->min_length < 0)
		return ada_fail_param(err, ADA_EINVAL, "min_length", "min_length must be >= 0, not %d", o->min_length);
	if (!isfinite(o->length_penalty))
		return ada_fail_param(err, ADA_EINVAL, "length_penalty", "length_penalty must be finite");
	if (o->no_repeat_ngram_size < 0)
		return ada_fail_param(err, ADA_EINVAL, "no_repeat_ngram_size",
				      "no_repeat_ngram_size must be >= 0, not %d", o->no_repeat_ngram_size);
	if (o->early_stopping < BEAM_STOP_FALSE || o->early_stopping > BEAM_STOP_NEVER)
		return ada_fail_param(err, ADA_EINVAL, "early_stopping",
				      "early_stopping must be false, true or \"never\"");
	if ((rc = check_token(o->decoder_start_token_id, vocab, 0, "decoder_start_token_id", err)) ||
	    (rc = check_token(o->eos_token_id, vocab, 1, "eos_token_id", err)) ||
	    (rc = check_token(o->forced_bos_token_id, vocab, 1, "forced_bos_token_id", err)) ||
	    (rc = check_token(o->forced_eos_token_id, vocab, 1, "forced_eos_token_id", err)))
		return rc;
	return ADA_OK;
}

void beam_result_release(struct beam_result *r)
{
	free(r->tokens);
	memset(r, 0, sizeof(*r));
}

/* log_softmax of one row, in double, rounded to float. Fails on NaN or
 * +inf logits and on rows with no finite logit: nothing to rank. */
static int log_softmax_row(const float *logits, float *out, int V, struct ada_err *err)
{
	double mx = -INFINITY, sum = 0, lse;

	for (int i = 0; i < V; i++) {
		if (isnan(logits[i]) || logits[i] == INFINITY)
			return ada_fail(err, ADA_ENUMERIC, "the decoder returned a non-finite logit (token %d)", i);
		if (logits[i] > mx)
			mx = logits[i];
	}
	if (mx == -INFINITY)
		return ada_fail(err, ADA_ENUMERIC, "the decoder returned no finite logit");
	for (int i = 0; i < V; i++)
		sum += exp((double)logits[i] - mx);
	lse = mx + log(sum);
	for (int i = 0; i < V; i++)
		out[i] = (float)((double)logits[i] - lse);
	return ADA_OK;
}

/*
 * HF's logits processors, in its order, on one row of scores for the
 * sequence seq[0..len): -inf masks, then the forced tokens (which replace
 * the row with -inf and 0 at the forced token).
 */
static void process_row(const struct beam_opts *o, const int *seq, int len, float *row, int V)
{
	int n = o->no_repeat_ngram_size;

	if (n > 0 && len + 1 >= n) {
		/* the last n-1 tokens as a prefix: ban what followed it before */
		const int *prefix = seq + len - (n - 1);

		for (int j = 0; j + n <= len; j++)
			if (!memcmp(seq + j, prefix, (size_t)(n - 1) * sizeof(*seq)))
				row[seq[j + n - 1]] = -INFINITY;
	}
	if (o->eos_token_id >= 0 && len < o->min_length)
		row[o->eos_token_id] = -INFINITY;
	if (o->forced_bos_token_id >= 0 && len == 1) {
		for (int i = 0; i < V; i++)
			row[i] = -INFINITY;
		row[o->forced_bos_token_id] = 0;
	}
	if (o->forced_eos_token_id >= 0 && len == o->max_length - 1) {
		for (int i = 0; i < V; i++)
			row[i] = -INFINITY;
		row[o->forced_eos_token_id] = 0;
	}
}

static int fill_result(struct beam_result *out, const int *seq, int len, int finished, int eos,
		       double score, struct ada_err *err)
{
	int n = len - 1 + (finished ? 1 : 0);
	int *t = xcalloc(n > 0 ? (size_t)n : 1, sizeof(*t));

	if (!t)
		return ada_fail(err, ADA_ENOMEM, "out of memory for the generated tokens");
	memcpy(t, seq + 1, (size_t)(len - 1) * sizeof(*t));
	if (finished)
		t[n - 1] = eos;
	out->tokens = t;
	out->n_tokens = n;
	out->finished = finished;
	out->score = score;
	return ADA_OK;
}

int greedy_search(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		  struct beam_result *out, struct ada_err *err)
{
	const int V = ops->vocab;
	float *logits = NULL, *lp = NULL;
	int *seq = NULL;
	int rc, len = 1, finished = 0;
	double sum = 0;

	if ((rc = beam_opts_check(o, V, err)))
		return rc;
	logits = xcalloc((size_t)V, sizeof(*logits));
	lp = xcalloc((size_t)V, sizeof(*lp));
	seq = xcalloc((size_t)o->max_length, sizeof(*seq));
	if (!logits || !lp || !seq) {
		rc = ada_fail(err, ADA_ENOMEM, "out of memory for a vocabulary of %d", V);
		goto out_free;
	}
	seq[0] = o->decoder_start_token_id;
	while (len < o->max_length) {
		int best = -1;

		if ((rc = ops->step(ctx, 1, &seq[len - 1], len - 1, logits, err)))
			goto out_free;
		if ((rc = log_softmax_row(logits, lp, V, err)))
			goto out_free;
		/* HF's greedy search takes the argmax of the processed logits: the
		 * masks are the same on logits and log-probabilities (a forced
		 * token leaves one unmasked), so rank the unmasked logits; the
		 * first maximum wins, and index 0 when all are masked (torch). */
		process_row(o, seq, len, lp, V);
		for (int i = 0; i < V; i++)
			if (lp[i] != -INFINITY && (best < 0 || logits[i] > logits[best]))
				best = i;
		if (best < 0)
			best = 0;
		sum += lp[best];
		if (best == o->eos_token_id) {
			finished = 1;
			break;
		}
		seq[len++] = best;
	}
	rc = fill_result(out, seq, len, finished, o->eos_token_id, sum, err);
out_free:
	free(logits);
	free(lp);
	free(seq);
	return rc;
}

/* A finished hypothesis: its sequence (start token first, EOS not stored). */
struct hyp {
	double score;
	int len;
	int finished;
	int *seq; /* points into the search's hypothesis storage */
};

struct beam_state {
	const struct beam_opts *o;
	int nb, V, K;
	float *logits;      /* [nb][V], the decoder's output */
	float *scores;      /* [nb][V], processed log-probs + beam score */
	int *seqs, *next;   /* [nb][max_length] live sequences, and the next ones */
	float *beam_scores; /* [nb] */
	float *cand_score;  /* [K] the best candidates, best first */
	int *cand_idx;      /* [K] their flat index beam * V + token */
	int *parent, *tokens, *next_tok; /* [nb] */
	float *next_scores; /* [nb] */
	struct hyp *hyps;   /* [nb + 1] in insertion order (as HF's list) */
	int *hyp_store;     /* [nb + 1][max_length] */
	int *store_free;    /* [nb + 1] free slots of hyp_store */
	int n_hyps, n_free;
	double worst;
};

static int beam_state_init(struct beam_state *s, const struct beam_opts *o, int V, struct ada_err *err)
{
	size_t nbv, seqn, hn;

	memset(s, 0, sizeof(*s));
	s->o = o;
	s->nb = o->num_beams;
	s->V = V;
	s->K = 2 * s->nb;
	if (size_mul((size_t)s->nb, (size_t)V, &nbv) || size_mul((size_t)s->nb, (size_t)o->max_length, &seqn) ||
	    size_mul((size_t)s->nb + 1, (size_t)o->max_length, &hn))
		return ada_fail_param(err, ADA_EINVAL, "num_beams", "num_beams x vocab is too large");
	s->logits = xcalloc(nbv, sizeof(*s->logits));
	s->scores = xcalloc(nbv, sizeof(*s->scores));
	s->seqs = xcalloc(seqn, sizeof(*s->seqs));
	s->next = xcalloc(seqn, sizeof(*s->next));
	s->beam_scores = xcalloc((size_t)s->nb, sizeof(*s->beam_scores));
	s->cand_score = xcalloc((size_t)s->K, sizeof(*s->cand_score));
	s->cand_idx = xcalloc((size_t)s->K, sizeof(*s->cand_idx));
	s->parent = xcalloc((size_t)s->nb, sizeof(*s->parent));
	s->tokens = xcalloc((size_t)s->nb, sizeof(*s->tokens));
	s->next_tok = xcalloc((size_t)s->nb, sizeof(*s->next_tok));
	s->next_scores = xcalloc((size_t)s->nb, sizeof(*s->next_scores));
	s->hyps = xcalloc((size_t)s->nb + 1, sizeof(*s->hyps));
	s->hyp_store = xcalloc(hn, sizeof(*s->hyp_store));
	s->store_free = xcalloc((size_t)s->nb + 1, sizeof(*s->store_free));
	if (!s->logits || !s->scores || !s->seqs || !s->next || !s->beam_scores || !s->cand_score ||
	    !s->cand_idx || !s->parent || !s->tokens || !s->next_tok || !s->next_scores || !s->hyps ||
	    !s->hyp_store || !s->store_free)
		return ada_fail(err, ADA_ENOMEM, "out of memory for %d beams of a vocabulary of %d", s->nb, V);
	for (int i = 0; i <= s->nb; i++)
		s->store_free[i] = i;
	s->n_free = s->nb + 1;
	s->worst = 1e9;
	return ADA_OK;
}

static void beam_state_release(struct beam_state *s)
{
	free(s->logits);
	free(s->scores);
	free(s->seqs);
	free(s->next);
	free(s->beam_scores);
	free(s->cand_score);
	free(s->cand_idx);
	free(s->parent);
	free(s->tokens);
	free(s->next_tok);
	free(s->next_scores);
	free(s->hyps);
	free(s->hyp_store);
	free(s->store_free);
}

/* HF's BeamHypotheses.add: keep the num_beams best; the new one enters
 * while there is room or when it beats the worst kept. On overflow the
 * lowest (score, position) goes and the next lowest becomes the worst. */
static void hyps_add(struct beam_state *s, const int *seq, int len, int finished, int gen_len, double sum_logprobs)
{
	double score = sum_logprobs / pow((double)gen_len, s->o->length_penalty);
	struct hyp *h;
	int slot;

	if (!(s->n_hyps < s->nb || score > s->worst))
		return;
	slot = s->store_free[--s->n_free];
	h = &s->hyps[s->n_hyps++];
	h->score = score;
	h->len = len;
	h->finished = finished;
	h->seq = s->hyp_store + (size_t)slot * (size_t)s->o->max_length;
	memcpy(h->seq, seq, (size_t)len * sizeof(*seq));
	if (s->n_hyps > s->nb) {
		int lo = 0, lo2 = -1;

		for (int i = 1; i < s->n_hyps; i++)
			if (s->hyps[i].score < s->hyps[lo].score)
				lo = i;
		for (int i = 0; i < s->n_hyps; i++)
			if (i != lo && (lo2 < 0 || s->hyps[i].score < s->hyps[lo2].score))
				lo2 = i;
		s->worst = s->hyps[lo2].score;
		s->store_free[s->n_free++] = (int)((s->hyps[lo].seq - s->hyp_store) / s->o->max_length);
		memmove(&s->hyps[lo], &s->hyps[lo + 1], (size_t)(s->n_hyps - lo - 1) * sizeof(*s->hyps));
		s->n_hyps--;
	} else if (score < s->worst) {
		s->worst = score;
	}
}

/* HF's BeamHypotheses.is_done; hf_len is HF's cur_len (the sequence length
 * the candidates' scores were computed on, start token included), so the
 * generated length is hf_len - 1. */
static int hyps_done(const struct beam_state *s, double best_sum, int hf_len)
{
	const struct beam_opts *o = s->o;
	double best;

	if (s->n_hyps < s->nb)
		return 0;
	if (o->early_stopping == BEAM_STOP_TRUE)
		return 1;
	if (o->early_stopping == BEAM_STOP_NEVER && o->length_penalty > 0)
		best = best_sum / pow((double)(o->max_length - 1), o->length_penalty);
	else
		best = best_sum / pow((double)(hf_len - 1), o->length_penalty);
	return s->worst >= best;
}

/* Candidate a ranks before b: higher score, then lower flat index. */
static inline int cand_before(float sa, int ia, float sb, int ib)
{
	return sa > sb || (sa == sb && ia < ib);
}

/* The top K of nb*V scores, best first, by insertion into a sorted list
 * (K = 2 * num_beams is small; most scores fail the first comparison). */
static void top_k(struct beam_state *s)
{
	const int total = s->nb * s->V, K = s->K;
	int n = 0;

	for (int idx = 0; idx < total; idx++) {
		float v = s->scores[idx];
		int at;

		if (n == K && !cand_before(v, idx, s->cand_score[K - 1], s->cand_idx[K - 1]))
			continue;
		at = n < K ? n++ : K - 1;
		while (at > 0 && cand_before(v, idx, s->cand_score[at - 1], s->cand_idx[at - 1])) {
			s->cand_score[at] = s->cand_score[at - 1];
			s->cand_idx[at] = s->cand_idx[at - 1];
			at--;
		}
		s->cand_score[at] = v;
		s->cand_idx[at] = idx;
	}
}

int beam_search(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		struct beam_result *out, struct ada_err *err)
{
	struct beam_state s;
	const int V = ops->vocab, L = o->max_length, nb = o->num_beams;
	int rc, len = 1, rows = 1, done = 0, best;

	if ((rc = beam_opts_check(o, V, err)))
		return rc;
	if ((rc = beam_state_init(&s, o, V, err)))
		goto out_release;
	for (int b = 0; b < nb; b++) {
		s.seqs[(size_t)b * L] = o->decoder_start_token_id;
		s.beam_scores[b] = b == 0 ? 0.0f : -1e9f;
	}
	s.tokens[0] = o->decoder_start_token_id;
	for (;;) {
		int filled = 0;

		if ((rc = ops->step(ctx, rows, s.tokens, len - 1, s.logits, err)))
			goto out_release;
		for (int b = 0; b < nb; b++) {
			float *row = s.scores + (size_t)b * V;

			if (b < rows) {
				if ((rc = log_softmax_row(s.logits + (size_t)b * V, row, V, err)))
					goto out_release;
			} else {
				/* the first step computed one row for all (identical) beams */
				memcpy(row, s.scores, (size_t)V * sizeof(*row));
			}
		}
		for (int b = 0; b < nb; b++) {
			float *row = s.scores + (size_t)b * V;

			process_row(o, s.seqs + (size_t)b * L, len, row, V);
			for (int i = 0; i < V; i++)
				row[i] += s.beam_scores[b];
		}
		top_k(&s);

		/* HF's BeamSearchScorer.process */
		for (int r = 0; r < s.K && filled < nb; r++) {
			int b = s.cand_idx[r] / V, t = s.cand_idx[r] % V;

			if (t == o->eos_token_id) {
				if (r >= nb)
					continue;
				hyps_add(&s, s.seqs + (size_t)b * L, len, 1, len, s.cand_score[r]);
			} else {
				s.next_scores[filled] = s.cand_score[r];
				s.next_tok[filled] = t;
				s.parent[filled] = b;
				filled++;
			}
		}
		/* each beam has one EOS, so 2 * num_beams candidates hold num_beams others */
		done = hyps_done(&s, s.cand_score[0], len + 1);
		for (int i = 0; i < nb; i++) {
			int *dst = s.next + (size_t)i * L;

			memcpy(dst, s.seqs + (size_t)s.parent[i] * L, (size_t)len * sizeof(*dst));
			dst[len] = s.next_tok[i];
			s.beam_scores[i] = s.next_scores[i];
			s.tokens[i] = s.next_tok[i];
		}
		{
			int *t = s.seqs;
			s.seqs = s.next;
			s.next = t;
		}
		len++;
		if (done || len >= L)
			break;
		{
			int identity = rows == nb;

			/* after the first step the decoder has one row: beams
			 * 1.. (at -1e9, picked when masks leave beam 0 too few
			 * tokens) are copies of it */
			for (int i = 0; rows == 1 && i < nb; i++)
				s.parent[i] = 0;
			for (int i = 0; identity && i < nb; i++)
				identity = s.parent[i] == i;
			if (!identity && (rc = ops->reorder(ctx, nb, s.parent, err)))
				goto out_release;
		}
		rows = nb;
	}
	/* HF's finalize: open beams join the finished ones unless done */
	if (!done)
		for (int b = 0; b < nb; b++)
			hyps_add(&s, s.seqs + (size_t)b * L, len, 0, len - 1, s.beam_scores[b]);
	/* the best score; of equal ones the last in the list (stable sort, pop) */
	best = 0;
	for (int i = 1; i < s.n_hyps; i++)
		if (s.hyps[i].score >= s.hyps[best].score)
			best = i;
	rc = fill_result(out, s.hyps[best].seq, s.hyps[best].len, s.hyps[best].finished, o->eos_token_id,
			 s.hyps[best].score, err);
out_release:
	beam_state_release(&s);
	return rc;
}

int seq2seq_generate(const struct seq2seq_step_ops *ops, void *ctx, const struct beam_opts *o,
		     struct beam_result *out, struct ada_err *err)
{
	if (o->num_beams == 1)
		return greedy_search(ops, ctx, o, out, err);
	return beam_search(ops, ctx, o, out, err);
}
