/* serve — the inference engine; see serve.h. */
#include "serve.h"

#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "log.h"
#include "util/alloc.h"
#include "util/err.h"
#include "util/fileio.h"
#include "util/strbuf.h"

/* Completions without max_tokens: OpenAI's legacy default. */
#define DEFAULT_COMPLETION_TOKENS 16
#define PIECE_MAX 1024

/* One request as the engine holds it. */
struct req {
	struct api_infer *job;          /* the engine's reference */
	const struct api_infer_params *p;
	char model[4096], tokenizer[4096], adapter[4096];   /* "" = none */
	struct ada_served *m;
	struct ada_seq *seq;
	struct ada_text_stream *text;
	int32_t prev;                   /* the last token read (pieces follow it) */
	int prompt_tokens, generated, max_tokens;
	struct req *next;
};

struct serve {
	struct serve_config cfg;
	char *jobs_dir;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct req *queue, **queue_tail;  /* waiting, oldest first */
	int n_queued, n_live;             /* n_live: taken by the engine, not yet ended */
	int stopping;
	pthread_t thread;
	int started;
	struct req *live;                 /* the engine thread's own */
	struct ada_model_cache *cache;
	struct ada_decoder *dec;
	unsigned step_delay_us;           /* test hook: ADALORAD_TEST_SERVE_STEP_MS */
	/* counters for /metrics */
	atomic_uint_fast64_t requests, rejected, cancelled, failed, finished_stop,
		finished_length, classified, answered, tokens_out, tokens_in, steps;
};

/* ---- resolving a model id (HTTP thread) ------------------------------------ */

static int resolve(struct serve *s, struct req *q, struct ada_err *err)
{
	const struct api_infer_params *p = q->p;
	const int classify = p->kind == API_INFER_CLASSIFY, qa = p->kind == API_INFER_QA;
	struct model_entry base;
	struct store_job j;
	const char *colon = strrchr(p->model, ':');
	int rc, is_cls, is_qa;

	if (!models_find(s->cfg.models, p->model, &base)) {
		if (base.info.family == ADA_FAMILY_BART)
			return ada_fail_param(err, ADA_EINVAL, "model",
					      "model '%s' is an encoder-decoder (BART): an encoder-decoder is not served yet (adalora generate decodes it)",
					      p->model);
		if (classify)
			return ada_fail_param(err, ADA_EINVAL, "model",
					      "model '%s' is a base model: classification needs a classification job's fine_tuned_model",
					      p->model);
		if (qa)
			return ada_fail_param(err, ADA_EINVAL, "model",
					      "model '%s' is a base model: it has no question answering head (a question_answering job's fine_tuned_model has)",
					      p->model);
		snprintf(q->model, sizeof(q->model), "%s", base.path);
		snprintf(q->tokenizer, sizeof(q->tokenizer), "%s", base.tokenizer);
		return ADA_OK;
	}
	/* "ft:<base>:<suffix>:<job id>": a succeeded job's fine_tuned_model */
	rc = ADA_ENOTFOUND;
	if (!strncmp(p->model, "ft:", 3) && colon) {
		rc = store_job_get(s->cfg.store, colon + 1, &j, err);
		if (rc && rc != ADA_ENOTFOUND)
			return rc;
		if (!rc && (j.status != JOB_SUCCEEDED || strcmp(j.fine_tuned_model, p->model))) {
			store_job_release(&j);
			rc = ADA_ENOTFOUND;
		}
	}
	if (rc)
		return ada_fail_param(err, ADA_ENOTFOUND, "model",
				      "model '%s' does not exist (GET /v1/models lists the models)",
				      p->model);
	is_cls = !strcmp(j.task, "classification");
	is_qa = !strcmp(j.task, "question_answering");
	if (!strcmp(j.task, "seq2seq")) {
		rc = ada_fail_param(err, ADA_EINVAL, "model",
				    "model '%s' is a seq2seq job's adapter on an encoder-decoder (BART): an encoder-decoder is not served yet (adalora generate --adapter decodes it)",
				    p->model);
	} else if (models_find(s->cfg.models, j.model, &base)) {
		rc = ada_fail_param(err, ADA_ENOTFOUND, "model",
				    "the base model '%s' of %s is no longer in the models directory",
				    j.model, p->model);
	} else if (is_qa != qa) {
		rc = ada_fail_param(err, ADA_EINVAL, "model",
				    is_qa ? "model '%s' is a question answering model: use POST /v1/question_answering"
				    : is_cls ? "model '%s' is a classifier: use POST /v1/classifications"
					     : "model '%s' is a language model: question answering needs a question_answering job's fine_tuned_model",
				    p->model);
	} else if (is_cls != classify) {
		rc = ada_fail_param(err, ADA_EINVAL, "model",
				    is_cls ? "model '%s' is a classifier: use POST /v1/classifications"
					   : "model '%s' is a language model: classification needs a classification job's model",
				    p->model);
	} else {
		/* the job's directory, or on a shared store the run directory
		 * that holds its result (store.h, output_dir) */
		char dir[4100], path[4200];
		if (j.output_dir[0])
			snprintf(dir, sizeof(dir), "%s/%s/%s", s->jobs_dir, j.id, j.output_dir);
		else
			snprintf(dir, sizeof(dir), "%s/%s", s->jobs_dir, j.id);
		snprintf(path, sizeof(path), "%s/model.gguf", dir);
		if (!is_cls && !is_qa && file_exists(path)) {
			/* full fine-tuning of a causal LM: a whole model */
			snprintf(q->model, sizeof(q->model), "%s", path);
		} else {
			snprintf(q->model, sizeof(q->model), "%s", base.path);
			snprintf(q->adapter, sizeof(q->adapter), "%s/adapter", dir);
		}
		snprintf(q->tokenizer, sizeof(q->tokenizer), "%s", base.tokenizer);
		rc = ADA_OK;
	}
	store_job_release(&j);
	return rc;
}

int serve_submit(struct serve *s, struct api_infer *job, unsigned *status, int *retry_after,
		 struct ada_err *err)
{
	struct req *q = xcalloc(1, sizeof(*q));
	int rc;

	*status = 500;
	if (!q)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	q->p = api_infer_params(job);
	if ((rc = resolve(s, q, err))) {
		*status = rc == ADA_EINVAL || rc == ADA_ENOTFOUND ? 400 : 500;
		free(q);
		return rc;
	}
	pthread_mutex_lock(&s->lock);
	if (s->stopping) {
		pthread_mutex_unlock(&s->lock);
		free(q);
		*status = 503;
		return ada_fail(err, ADA_EIO, "the daemon is shutting down");
	}
	if (s->n_live + s->n_queued >= s->cfg.max_sequences + s->cfg.max_queue) {
		int waiting = s->n_queued;
		pthread_mutex_unlock(&s->lock);
		free(q);
		atomic_fetch_add(&s->rejected, 1);
		*status = 429;
		*retry_after = 1;
		return ada_fail(err, ADA_EINVAL,
				"%d requests are waiting for the %d decoding slots (--serve-max-queue %d); try again later",
				waiting, s->cfg.max_sequences, s->cfg.max_queue);
	}
	q->job = api_infer_ref(job);
	*s->queue_tail = q;
	s->queue_tail = &q->next;
	s->n_queued++;
	atomic_fetch_add(&s->requests, 1);
	pthread_cond_signal(&s->cond);
	pthread_mutex_unlock(&s->lock);
	return ADA_OK;
}

/* ---- ending a request (engine thread) ---------------------------------------- */

static void req_free(struct serve *s, struct req *q)
{
	ada_seq_free(q->seq);
	ada_served_free(q->m);
	ada_text_stream_free(q->text);
	api_infer_unref(q->job);
	free(q);
	pthread_mutex_lock(&s->lock);
	s->n_live--;
	pthread_mutex_unlock(&s->lock);
}

static unsigned status_of(const struct ada_err *err)
{
	return err->code == ADA_EINVAL || err->code == ADA_ENOTFOUND ? 400 : 500;
}

static void fail(struct serve *s, struct req *q, const struct ada_err *err)
{
	unsigned st = status_of(err);

	atomic_fetch_add(&s->failed, 1);
	if (st >= 500)
		log_msg(LOG_WARN, "msg=\"inference failed\" model=\"%s\" detail=\"%s\"", q->p->model,
			err->msg);
	api_infer_fail(q->job, st, st == 400 ? "invalid_value" : "inference_failed",
		       err->param[0] ? err->param : NULL, "%s", err->msg);
}

/* ---- starting a request ------------------------------------------------------- */

static int classify(struct serve *s, struct req *q, struct ada_err *err)
{
	struct ada_served_info info;
	json_t *data = json_array(), *in;
	int tokens = 0, rc = ADA_OK;
	float *logits;
	size_t i;

	ada_served_describe(q->m, &info);
	if (!info.classifier) {
		json_decref(data);
		return ada_fail_param(err, ADA_EINVAL, "model", "model '%s' is not a classifier",
				      q->p->model);
	}
	logits = xcalloc((size_t)info.num_labels, sizeof(*logits));
	if (!logits) {
		json_decref(data);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	json_array_foreach(q->p->inputs, i, in) {
		const char *a = json_string_value(json_array_get(in, 0));
		const char *b = json_string_value(json_array_get(in, 1));
		int truncated = 0, n = 0;
		json_t *o;

		if ((rc = ada_served_classify(q->m, a, b, logits, &truncated, &n, err))) {
			char param[48];
			snprintf(param, sizeof(param), json_array_size(q->p->inputs) > 1 ? "input[%zu]"
											  : "input", i);
			snprintf(err->param, sizeof(err->param), "%s", param);
			break;
		}
		tokens += n;
		o = json_pack("{s:s,s:I,s:b}", "object", "classification", "index", (json_int_t)i,
			      "truncated", truncated);
		if (info.num_labels == 1) {
			json_object_set_new(o, "value", json_real(logits[0]));
		} else {
			double mx = logits[0], sum = 0;
			int best = 0;
			json_t *scores = json_object();
			for (int k = 1; k < info.num_labels; k++)
				if (logits[k] > mx) {
					mx = logits[k];
					best = k;
				}
			for (int k = 0; k < info.num_labels; k++)
				sum += exp((double)logits[k] - mx);
			for (int k = 0; k < info.num_labels; k++)
				json_object_set_new(scores, ada_served_label(q->m, k),
						    json_real(exp((double)logits[k] - mx) / sum));
			json_object_set_new(o, "label", json_string(ada_served_label(q->m, best)));
			json_object_set_new(o, "score", json_real(1 / sum));
			json_object_set_new(o, "scores", scores);
		}
		json_array_append_new(data, o);
	}
	free(logits);
	if (rc) {
		json_decref(data);
		return rc;
	}
	atomic_fetch_add(&s->classified, 1);
	atomic_fetch_add(&s->tokens_in, (uint64_t)tokens);
	api_infer_classified(q->job, data, tokens);
	return ADA_OK;
}

/* A lib error of pair i: "question" and "context" get the index when the
 * request gave that field as an array. */
static void name_pair(const struct api_infer_params *p, size_t i, struct ada_err *err)
{
	char param[sizeof(err->param)];

	if ((!strcmp(err->param, "question") && p->question_array) ||
	    (!strcmp(err->param, "context") && p->context_array)) {
		snprintf(param, sizeof(param), "%s[%zu]", err->param, i);
		snprintf(err->param, sizeof(err->param), "%s", param);
	}
}

/* Every question over its context (ada_served_answer: the windows and
 * n-best `adalora eval` uses), at most --serve-max-windows windows in all. */
static int answer(struct serve *s, struct req *q, struct ada_err *err)
{
	const struct api_infer_params *p = q->p;
	struct ada_qa_opts o;
	json_t *data = json_array(), *pair;
	int64_t tokens = 0, windows = 0;
	int rc = ADA_OK;
	size_t i;

	if (!data)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	ada_qa_opts_init(&o);
	o.top_k = p->top_k;
	o.max_seq_length = p->max_seq_length;
	o.doc_stride = p->doc_stride;
	o.max_answer_length = p->max_answer_length;
	if (p->has_threshold)
		o.null_score_diff_threshold = p->null_score_diff_threshold;
	json_array_foreach(p->inputs, i, pair) {
		struct ada_qa_answer a;
		json_t *obj;

		if (s->cfg.max_windows > 0 && windows >= s->cfg.max_windows) {
			rc = ada_fail_param(err, ADA_EINVAL, "context",
					    "the earlier questions took all %d windows a request may take (--serve-max-windows)",
					    s->cfg.max_windows);
			name_pair(p, i, err);
			break;
		}
		o.max_windows = s->cfg.max_windows > 0 ? s->cfg.max_windows - windows : 0;
		rc = ada_served_answer(q->m, json_string_value(json_array_get(pair, 0)),
				       json_string_value(json_array_get(pair, 1)), &o, &a, err);
		if (rc == ADA_EINVAL && !strcmp(err->param, "context") && o.max_windows > 0 &&
		    strstr(err->msg, " windows of "))
			ada_err_prefix(err, rc, "--serve-max-windows %d, of which the earlier questions took %lld",
				       s->cfg.max_windows, (long long)windows);
		if (rc) {
			name_pair(p, i, err);
			break;
		}
		tokens += a.tokens;
		windows += a.windows;
		obj = ada_qa_answer_to_json(&a);
		ada_qa_answer_release(&a);
		if (!obj) {
			rc = ada_fail(err, ADA_ENOMEM, "out of memory");
			break;
		}
		json_object_set_new(obj, "object", json_string("question_answer"));
		json_object_set_new(obj, "index", json_integer((json_int_t)i));
		json_array_append_new(data, obj);
	}
	if (rc) {
		json_decref(data);
		return rc;
	}
	atomic_fetch_add(&s->answered, 1);
	atomic_fetch_add(&s->tokens_in, (uint64_t)tokens);
	api_infer_classified(q->job, data, tokens > INT32_MAX ? INT32_MAX : (int)tokens);
	return ADA_OK;
}

/* The prompt's tokens, the limits, the sequence: ADA_OK and started. */
static int begin(struct serve *s, struct req *q, struct ada_err *err)
{
	const struct api_infer_params *p = q->p;
	const int chat = p->kind == API_INFER_CHAT;
	struct ada_served_info info;
	struct ada_sampling smp = { .temperature = p->temperature, .top_p = p->top_p,
				    .seed = p->seed, .logprobs = p->logprobs,
				    .top_logprobs = p->top_logprobs };
	int32_t *ids = NULL;
	size_t n = 0;
	int rc, room;

	ada_served_describe(q->m, &info);
	if (!info.generates)
		return ada_fail_param(err, ADA_EINVAL, "model", "model '%s' generates no text",
				      p->model);
	if (chat && !info.has_chat)
		return ada_fail_param(err, ADA_EINVAL, "model",
				      "model '%s' has no chat template adalorad renders (%s): use POST /v1/completions",
				      p->model, ada_chat_templates());
	if (chat)
		rc = ada_served_chat(q->m, p->messages, &ids, &n, err);
	else if (p->prompt_ids)
		rc = (ids = xcalloc(p->n_prompt_ids, sizeof(*ids))) ? ADA_OK
			: ada_fail(err, ADA_ENOMEM, "out of memory");
	else
		rc = ada_served_encode(q->m, p->prompt, p->prompt_len, &ids, &n, err);
	if (rc)
		return rc;
	if (!chat && p->prompt_ids) {
		memcpy(ids, p->prompt_ids, p->n_prompt_ids * sizeof(*ids));
		n = p->n_prompt_ids;
	}
	room = info.context_length - (int)(n < (size_t)info.context_length ? n : (size_t)info.context_length);
	if (room < 1) {
		free(ids);
		return ada_fail_param(err, ADA_EINVAL, chat ? "messages" : "prompt",
				      "the prompt is %zu tokens: it leaves no room in the model's context of %d tokens",
				      n, info.context_length);
	}
	if (p->max_tokens > s->cfg.max_tokens) {
		free(ids);
		return ada_fail_param(err, ADA_EINVAL, "max_tokens",
				      "max_tokens is %d: this server allows at most %d (--serve-max-tokens)",
				      p->max_tokens, s->cfg.max_tokens);
	}
	if (p->max_tokens > room) {
		free(ids);
		return ada_fail_param(err, ADA_EINVAL, "max_tokens",
				      "the model's context is %d tokens, but %zu are the prompt and max_tokens asks %d more",
				      info.context_length, n, p->max_tokens);
	}
	q->max_tokens = p->max_tokens ? p->max_tokens
			: chat ? room : DEFAULT_COMPLETION_TOKENS < room ? DEFAULT_COMPLETION_TOKENS : room;
	if (q->max_tokens > s->cfg.max_tokens)
		q->max_tokens = s->cfg.max_tokens;
	rc = ada_seq_new(q->m, ids, n, q->max_tokens, &smp, &q->seq, err);
	if (!rc)
		rc = ada_text_stream_new(p->stop, p->n_stop, &q->text, err);
	q->prev = n ? ids[n - 1] : -1;
	q->prompt_tokens = (int)n;
	free(ids);
	if (rc)
		return rc;
	atomic_fetch_add(&s->tokens_in, (uint64_t)n);
	api_infer_start(q->job, (int)n);
	return ADA_OK;
}

/* Load, then begin (or classify, or answer questions). 1: the request goes
 * on decoding; 0: it ended here (answered). */
static int admit(struct serve *s, struct req *q)
{
	struct ada_err err = { 0 };
	int rc;

	rc = ada_model_cache_get(s->cache, q->model, q->tokenizer[0] ? q->tokenizer : NULL,
				 q->adapter[0] ? q->adapter : NULL, &q->m, &err);
	if (rc) {
		/* the files are ours: a model that does not load is our failure */
		err.code = ADA_EIO;
		err.param[0] = '\0';
		fail(s, q, &err);
		return 0;
	}
	rc = q->p->kind == API_INFER_CLASSIFY ? classify(s, q, &err)
	     : q->p->kind == API_INFER_QA ? answer(s, q, &err) : begin(s, q, &err);
	if (rc) {
		fail(s, q, &err);
		return 0;
	}
	return q->p->kind != API_INFER_CLASSIFY && q->p->kind != API_INFER_QA;
}

/* ---- a token --------------------------------------------------------------------- */

/* The end of a completion: what the text stream held back, then the end. */
static void finish(struct serve *s, struct req *q, const char *reason)
{
	const char *text;
	size_t n;

	if (ada_text_stream_finish(q->text, &text, &n) == 0 && n)
		api_infer_emit(q->job, text, n, NULL);
	api_infer_end(q->job, reason, q->generated);
	atomic_fetch_add(!strcmp(reason, "stop") ? &s->finished_stop : &s->finished_length, 1);
}

/* 1 when the request ended with this token. */
static int take_token(struct serve *s, struct req *q, const struct ada_token *t)
{
	char piece[PIECE_MAX], top[20][64];
	struct api_infer_token at = { 0 };
	const char *text;
	size_t n;
	int len, stopped;

	if (ada_served_stop_token(q->m, t->id, q->p->kind == API_INFER_CHAT)) {
		finish(s, q, "stop");
		return 1;
	}
	len = ada_served_piece(q->m, q->prev, t->id, piece, sizeof(piece));
	len = len > 0 ? len : 0;
	stopped = ada_text_stream_push(q->text, piece, (size_t)len, &text, &n);
	if (stopped < 0) {
		struct ada_err err = { .code = ADA_ENOMEM };
		snprintf(err.msg, sizeof(err.msg), "out of memory");
		fail(s, q, &err);
		return 1;
	}
	q->generated++;
	atomic_fetch_add(&s->tokens_out, 1);
	if (q->p->logprobs) {
		at.bytes = piece;
		at.n = (size_t)len;
		at.logprob = t->logprob;
		at.n_top = t->n_top;
		for (int i = 0; i < t->n_top; i++) {
			int k = ada_served_piece(q->m, q->prev, t->top_id[i], top[i], sizeof(top[i]));
			at.top_bytes[i] = top[i];
			at.top_n[i] = k > 0 ? (size_t)k : 0;
			at.top_logprob[i] = t->top_logprob[i];
		}
	}
	api_infer_emit(q->job, text, n, q->p->logprobs ? &at : NULL);
	q->prev = t->id;
	if (stopped) {
		api_infer_end(q->job, "stop", q->generated);
		atomic_fetch_add(&s->finished_stop, 1);
		return 1;
	}
	if (q->generated >= q->max_tokens) {
		finish(s, q, "length");
		return 1;
	}
	return 0;
}

/* ---- the engine thread --------------------------------------------------------- */

/* Take waiting requests while there are free slots. */
static void take_queued(struct serve *s, struct req **admitted)
{
	pthread_mutex_lock(&s->lock);
	while (s->queue && s->n_live < s->cfg.max_sequences) {
		struct req *q = s->queue;
		s->queue = q->next;
		if (!s->queue)
			s->queue_tail = &s->queue;
		s->n_queued--;
		s->n_live++;
		q->next = *admitted;
		*admitted = q;
	}
	pthread_mutex_unlock(&s->lock);
}

/* One step of every live sequence; ends those done, gone or failed. */
static void step(struct serve *s)
{
	struct ada_seq *seqs[1024];
	struct req *by[1024];
	struct ada_err err = { 0 };
	int n = 0;

	for (struct req **pq = &s->live, *q; (q = *pq);) {
		if (api_infer_gone(q->job)) {
			*pq = q->next;
			atomic_fetch_add(&s->cancelled, 1);
			req_free(s, q);
			continue;
		}
		if (n < 1024) {
			seqs[n] = q->seq;
			by[n++] = q;
		}
		pq = &q->next;
	}
	if (!n)
		return;
	if (ada_decode_step(s->dec, seqs, n, &err)) {
		for (int i = 0; i < n; i++)
			fail(s, by[i], &err);
		for (struct req *q; (q = s->live);) {
			s->live = q->next;
			req_free(s, q);
		}
		return;
	}
	atomic_fetch_add(&s->steps, 1);
	if (s->step_delay_us)
		usleep(s->step_delay_us);
	for (struct req **pq = &s->live, *q; (q = *pq);) {
		struct ada_token t;

		if (ada_seq_token(q->seq, &t) && take_token(s, q, &t)) {
			*pq = q->next;
			req_free(s, q);
			continue;
		}
		pq = &q->next;
	}
}

static void *engine_main(void *arg)
{
	struct serve *s = arg;

	if (setpriority(PRIO_PROCESS, (id_t)syscall(SYS_gettid), s->cfg.nice))
		log_msg(LOG_WARN, "msg=\"cannot set the inference thread's priority\" nice=%d",
			s->cfg.nice);
	ada_set_threads(s->cfg.threads);
	for (;;) {
		struct req *admitted = NULL;

		pthread_mutex_lock(&s->lock);
		while (!s->stopping && !s->queue && !s->live)
			pthread_cond_wait(&s->cond, &s->lock);
		if (s->stopping) {
			pthread_mutex_unlock(&s->lock);
			break;
		}
		pthread_mutex_unlock(&s->lock);
		take_queued(s, &admitted);
		while (admitted) {
			struct req *q = admitted;
			admitted = q->next;
			if (admit(s, q)) {
				q->next = s->live;
				s->live = q;
			} else {
				req_free(s, q);
			}
		}
		step(s);
	}
	return NULL;
}

/* ---- start, stop, metrics -------------------------------------------------------- */

int serve_start(const struct serve_config *cfg, struct serve **out, struct ada_err *err)
{
	struct serve *s = xcalloc(1, sizeof(*s));
	int rc;

	*out = NULL;
	if (!s || !(s->jobs_dir = xstrdup(cfg->jobs_dir))) {
		free(s);
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	}
	s->cfg = *cfg;
	s->cfg.jobs_dir = s->jobs_dir;
	if (s->cfg.max_rows < s->cfg.max_sequences)
		s->cfg.max_rows = s->cfg.max_sequences;
	pthread_mutex_init(&s->lock, NULL);
	pthread_cond_init(&s->cond, NULL);
	s->queue_tail = &s->queue;
	{
		/* Test hook (tests/integration/test_serve.c): every step takes at
		 * least this long, so a test can act while a generation runs.
		 * Never set it otherwise. */
		const char *ms = getenv("ADALORAD_TEST_SERVE_STEP_MS");
		if (ms && atoi(ms) > 0)
			s->step_delay_us = (unsigned)atoi(ms) * 1000u;
	}
	if ((rc = ada_model_cache_new(cfg->adapter_cache, cfg->idle_bases, &s->cache, err)) ||
	    (rc = ada_decoder_new(s->cfg.max_rows, &s->dec, err))) {
		serve_free(s);
		return rc;
	}
	if (pthread_create(&s->thread, NULL, engine_main, s)) {
		serve_free(s);
		return ada_fail(err, ADA_ENOMEM, "cannot start the inference thread");
	}
	s->started = 1;
	*out = s;
	return ADA_OK;
}

void serve_stop(struct serve *s)
{
	struct req *q;

	if (!s)
		return;
	pthread_mutex_lock(&s->lock);
	s->stopping = 1;
	pthread_cond_broadcast(&s->cond);
	pthread_mutex_unlock(&s->lock);
	if (s->started)
		pthread_join(s->thread, NULL);
	s->started = 0;
	/* Nothing runs now, and nothing more is queued: end what is left. */
	while ((q = s->live)) {
		s->live = q->next;
		api_infer_fail(q->job, 503, "shutting_down", NULL, "the daemon is shutting down");
		req_free(s, q);
	}
	pthread_mutex_lock(&s->lock);
	q = s->queue;
	s->queue = NULL;
	s->queue_tail = &s->queue;
	s->n_live += s->n_queued;   /* req_free counts each out */
	s->n_queued = 0;
	pthread_mutex_unlock(&s->lock);
	while (q) {
		struct req *next = q->next;
		api_infer_fail(q->job, 503, "shutting_down", NULL, "the daemon is shutting down");
		req_free(s, q);
		q = next;
	}
}

void serve_free(struct serve *s)
{
	if (!s)
		return;
	serve_stop(s);
	ada_decoder_free(s->dec);
	ada_model_cache_free(s->cache);
	pthread_cond_destroy(&s->cond);
	pthread_mutex_destroy(&s->lock);
	free(s->jobs_dir);
	free(s);
}

void serve_metrics(struct serve *s, struct strbuf *out)
{
	struct ada_model_cache_stats cs;
	int live, queued;

	ada_model_cache_stats(s->cache, &cs);
	pthread_mutex_lock(&s->lock);
	live = s->n_live;
	queued = s->n_queued;
	pthread_mutex_unlock(&s->lock);
	strbuf_addf(out,
		    "# HELP adalorad_serve_requests_total Inference requests taken into the queue.\n"
		    "# TYPE adalorad_serve_requests_total counter\n"
		    "adalorad_serve_requests_total %llu\n"
		    "# HELP adalorad_serve_rejected_total Inference requests refused with 429: the queue was full.\n"
		    "# TYPE adalorad_serve_rejected_total counter\n"
		    "adalorad_serve_rejected_total %llu\n"
		    "# HELP adalorad_serve_finished_total Inference requests by how they ended.\n"
		    "# TYPE adalorad_serve_finished_total counter\n"
		    "adalorad_serve_finished_total{reason=\"stop\"} %llu\n"
		    "adalorad_serve_finished_total{reason=\"length\"} %llu\n"
		    "adalorad_serve_finished_total{reason=\"classified\"} %llu\n"
		    "adalorad_serve_finished_total{reason=\"answered\"} %llu\n"
		    "adalorad_serve_finished_total{reason=\"failed\"} %llu\n"
		    "adalorad_serve_finished_total{reason=\"client_gone\"} %llu\n"
		    "# HELP adalorad_serve_sequences Requests decoding now (or being loaded).\n"
		    "# TYPE adalorad_serve_sequences gauge\n"
		    "adalorad_serve_sequences %d\n"
		    "# HELP adalorad_serve_queued Requests waiting for a decoding slot.\n"
		    "# TYPE adalorad_serve_queued gauge\n"
		    "adalorad_serve_queued %d\n"
		    "# HELP adalorad_serve_tokens_generated_total Tokens chosen by the decoder.\n"
		    "# TYPE adalorad_serve_tokens_generated_total counter\n"
		    "adalorad_serve_tokens_generated_total %llu\n"
		    "# HELP adalorad_serve_prompt_tokens_total Prompt (and classified, and QA windows') tokens read.\n"
		    "# TYPE adalorad_serve_prompt_tokens_total counter\n"
		    "adalorad_serve_prompt_tokens_total %llu\n"
		    "# HELP adalorad_serve_steps_total Decoding steps (each over every live sequence).\n"
		    "# TYPE adalorad_serve_steps_total counter\n"
		    "adalorad_serve_steps_total %llu\n"
		    "# HELP adalorad_serve_bases Base models loaded for serving.\n"
		    "# TYPE adalorad_serve_bases gauge\n"
		    "adalorad_serve_bases %lld\n"
		    "# HELP adalorad_serve_base_bytes Their weights as stored (mapped once each).\n"
		    "# TYPE adalorad_serve_base_bytes gauge\n"
		    "adalorad_serve_base_bytes %lld\n"
		    "# HELP adalorad_serve_adapters Adapters in the cache.\n"
		    "# TYPE adalorad_serve_adapters gauge\n"
		    "adalorad_serve_adapters %lld\n"
		    "# HELP adalorad_serve_adapter_bytes Their memory (--serve-adapter-cache bounds it).\n"
		    "# TYPE adalorad_serve_adapter_bytes gauge\n"
		    "adalorad_serve_adapter_bytes %lld\n"
		    "# HELP adalorad_serve_cache_total Model and adapter lookups by outcome.\n"
		    "# TYPE adalorad_serve_cache_total counter\n"
		    "adalorad_serve_cache_total{result=\"hit\"} %lld\n"
		    "adalorad_serve_cache_total{result=\"miss\"} %lld\n"
		    "adalorad_serve_cache_total{result=\"eviction\"} %lld\n"
		    "# HELP adalorad_serve_threads Threads of the inference engine.\n"
		    "# TYPE adalorad_serve_threads gauge\n"
		    "adalorad_serve_threads %d\n",
		    (unsigned long long)atomic_load(&s->requests),
		    (unsigned long long)atomic_load(&s->rejected),
		    (unsigned long long)atomic_load(&s->finished_stop),
		    (unsigned long long)atomic_load(&s->finished_length),
		    (unsigned long long)atomic_load(&s->classified),
		    (unsigned long long)atomic_load(&s->answered),
		    (unsigned long long)atomic_load(&s->failed),
		    (unsigned long long)atomic_load(&s->cancelled), live, queued,
		    (unsigned long long)atomic_load(&s->tokens_out),
		    (unsigned long long)atomic_load(&s->tokens_in),
		    (unsigned long long)atomic_load(&s->steps), (long long)cs.bases,
		    (long long)cs.base_bytes, (long long)cs.adapters, (long long)cs.adapter_bytes,
		    (long long)cs.hits, (long long)cs.misses, (long long)cs.evictions, s->cfg.threads);
}
