/*
 * h_jobs — creating, listing, reading and cancelling fine-tuning jobs.
 *
 * Creation must be cheap (hundreds per second), so it checks here only
 * what needs neither the data nor the weights: the body's fields, the
 * method (ada_method_from_json, whose param names are the API's paths),
 * that the model and files exist, seq_len against the model's context,
 * and, when max_steps fixes the total, the budget schedule. For
 * classification it also checks what the files' label summaries (recorded
 * at upload) tell without reading the files: a BERT-family model needs
 * labelled data, training and validation files are both labelled or
 * neither, and the validation labels fit the training label map
 * (ada_labels_check) — so a label count that changed is a 400 naming
 * validation_file, not a job that fails later. An encoder-decoder (BART)
 * trains seq2seq: its files must hold {"source","target"} lines (400
 * naming the file), and a "task" the body names must be the one the model
 * and the files make (400 naming "task"; the plan decides it again, from
 * the same facts, so it is checked, not stored). For chat files: tool
 * calling (recorded at upload) is refused naming the file, and a model
 * with no chat template we render needs chat_template. The job is
 * then stored as validating_files and the validator is woken: the checks
 * that need the tokenized data (ada_job_plan) run there and move the job
 * to queued, or fail it with error {code, message, param}.
 *
 * Idempotency-Key (README "Idempotent job creation"): a creation with the
 * header is recorded under it with a fingerprint of its body (the JSON,
 * keys sorted, compact: spacing and key order do not matter). A retry with
 * the same key and body gets the job the first created (201, as it is now,
 * with Idempotent-Replayed: true), even if the first request's answer was
 * lost or the model has gone since; the same key with another body is a
 * 422 naming the header. Keys are one namespace for the whole store (every
 * client sees every job anyway), kept --idempotency-ttl (a day). Only a
 * created job is recorded: a refused request may be retried as it is.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "http.h"
#include "util/alloc.h"

#define MAX_SEED 2147483647

/* A string field: 0 with *out set (NULL when absent or null and allowed),
 * or -1 after replying. */
static int string_field(struct request *r, const json_t *body, const char *key, int required,
			size_t max_len, const char **out)
{
	const json_t *v = json_object_get(body, key);

	*out = NULL;
	if (!v || json_is_null(v)) {
		if (!required)
			return 0;
		reply_error(r, 400, "missing_required_parameter", key, "%s is required", key);
		return -1;
	}
	if (!json_is_string(v)) {
		reply_error(r, 400, "invalid_type", key, "%s must be a string", key);
		return -1;
	}
	if (json_string_length(v) == 0 || json_string_length(v) > max_len) {
		reply_error(r, 400, "invalid_value", key, "%s must be 1 to %zu bytes long", key,
			    max_len);
		return -1;
	}
	if (strlen(json_string_value(v)) != json_string_length(v)) {
		reply_error(r, 400, "invalid_value", key, "%s must not contain NUL", key);
		return -1;
	}
	*out = json_string_value(v);
	return 0;
}

static int suffix_ok(const char *s)
{
	for (; *s; s++)
		if (!((*s >= 'a' && *s <= 'z') || (*s >= 'A' && *s <= 'Z') ||
		      (*s >= '0' && *s <= '9') || *s == '-' || *s == '_' || *s == '.'))
			return 0;
	return 1;
}

static int seed_field(struct request *r, const json_t *body, uint64_t *seed)
{
	const json_t *v = json_object_get(body, "seed");
	uint32_t rnd;

	if (!v || json_is_null(v)) {
		/* Like OpenAI: a seed is chosen, and shown, so the job can be rerun. */
		if (getrandom(&rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd)) {
			reply_error(r, 500, "internal_error", NULL, "getrandom: %s", strerror(errno));
			return -1;
		}
		*seed = rnd & MAX_SEED;
		return 0;
	}
	if (!json_is_integer(v)) {
		reply_error(r, 400, "invalid_type", "seed", "seed must be an integer");
		return -1;
	}
	if (json_integer_value(v) < 0 || json_integer_value(v) > MAX_SEED) {
		reply_error(r, 400, "invalid_value", "seed", "seed must be between 0 and %d",
			    MAX_SEED);
		return -1;
	}
	*seed = (uint64_t)json_integer_value(v);
	return 0;
}

static int is_encoder(const struct ada_model_info *info)
{
	return info->family == ADA_FAMILY_BERT;
}

static int is_qa(const struct store_file *f)
{
	return !strcmp(f->shape, ada_data_shape_name(ADA_SHAPE_QA));
}

static int is_seq2seq_model(const struct ada_model_info *info)
{
	return info->family == ADA_FAMILY_BART;
}

static int is_seq2seq_file(const struct store_file *f)
{
	return !strcmp(f->shape, ada_data_shape_name(ADA_SHAPE_SEQ2SEQ));
}

static int is_labelled(const struct store_file *f)
{
	return !strcmp(f->shape, ada_data_shape_name(ADA_SHAPE_CLASSIFY)) ||
	       !strcmp(f->shape, ada_data_shape_name(ADA_SHAPE_CLASSIFY_PAIR));
}

/* The classification checks the files' rows allow (see the top). A file
 * that does not exist is left to store_job_create, which says so. */
static int check_labels(struct request *r, const char *model, const struct ada_model_info *info,
			const char *training, const char *validation)
{
	struct store *st = r->api->cfg.store;
	struct store_file tf, vf;
	struct ada_err err = { 0 };
	char *tl = NULL, *vl = NULL;
	json_t *tj = NULL, *vj = NULL;
	int rc = 0;

	if (store_file_get(st, training, &tf, &err))
		return 0;
	if (validation && !store_file_get(st, validation, &vf, &err) && is_qa(&tf) != is_qa(&vf)) {
		reply_error(r, 400, "invalid_value", "validation_file",
			    "the lines of validation file %s are %s but those of training file %s are %s: a question answering job needs both in question_answering shape",
			    validation, vf.shape, training, tf.shape);
		return -1;
	}
	if (is_qa(&tf))
		return 0;
	if (is_encoder(info) && !is_labelled(&tf)) {
		reply_error(r, 400, "invalid_value", "training_file",
			    "model '%s' is a %s encoder: it trains classifiers, and the lines of training file %s have no label (shape %s)",
			    model, info->architecture, training, tf.shape);
		return -1;
	}
	if (validation && !store_file_get(st, validation, &vf, &err) &&
	    is_labelled(&tf) != is_labelled(&vf)) {
		reply_error(r, 400, "invalid_value", "validation_file",
			    "the lines of validation file %s are %s but those of training file %s are %s: both must be labelled, or neither",
			    validation, vf.shape, training, tf.shape);
		return -1;
	}
	if (!is_labelled(&tf))
		return 0;
	/* Files uploaded before labels were recorded have none: the plan checks them. */
	if (store_file_labels(st, training, &tl, &err) || !tl ||
	    (validation && (store_file_labels(st, validation, &vl, &err) || !vl)))
		goto out_free;
	tj = json_loads(tl, 0, NULL);
	vj = vl ? json_loads(vl, 0, NULL) : NULL;
	if (tj && (!vl || vj) && ada_labels_check(tj, vj, &err)) {
		reply_error(r, 400, "invalid_value", err.param, "%s: %s",
			    !strcmp(err.param, "validation_file") ? validation : training, err.msg);
		rc = -1;
	}
out_free:
	json_decref(tj);
	json_decref(vj);
	free(tl);
	free(vl);
	return rc;
}

/* The optional "task": auto (the default), causal_lm, classification,
 * question_answering or seq2seq. It must be the task the model and the
 * files' recorded shapes make, as the plan will resolve it (trainer_setup.c):
 * an encoder-decoder (BART) trains seq2seq on {"source","target"} lines,
 * question answering needs an encoder and QA lines (or SQuAD JSON), an
 * encoder cannot train a causal LM, classification needs labels. Checked,
 * not stored (the plan decides it again from the same facts). 0, or -1
 * after replying. */
static int check_task(struct request *r, const char *model, const struct ada_model_info *info,
		      const char *task, const char *training, const char *validation)
{
	const char *ids[2] = { training, validation };
	const char *params[2] = { "training_file", "validation_file" };
	struct store *st = r->api->cfg.store;
	struct ada_err err = { 0 };
	struct store_file f;
	int want = task ? ada_task_from_name(task) : ADA_TASK_AUTO, qa_file;

	if (want < 0) {
		reply_error(r, 400, "invalid_value", "task",
			    "task must be \"auto\", \"causal_lm\", \"classification\", \"question_answering\" or \"seq2seq\"");
		return -1;
	}
	if (want == ADA_TASK_SEQ2SEQ && !is_seq2seq_model(info)) {
		reply_error(r, 400, "invalid_value", "task",
			    "task seq2seq needs an encoder-decoder (BART) model; model '%s' is %s",
			    model, info->architecture);
		return -1;
	}
	if (is_seq2seq_model(info)) {
		if (want != ADA_TASK_AUTO && want != ADA_TASK_SEQ2SEQ) {
			reply_error(r, 400, "invalid_value", "task",
				    "model '%s' is an encoder-decoder (BART): it trains seq2seq, not %s",
				    model, task);
			return -1;
		}
		for (int k = 0; k < 2; k++) {
			if (!ids[k] || store_file_get(st, ids[k], &f, &err) || is_seq2seq_file(&f))
				continue;
			reply_error(r, 400, "invalid_value", params[k],
				    "model '%s' is an encoder-decoder (BART): it trains seq2seq on {\"source\", \"target\"} lines, and the lines of %s are %s",
				    model, ids[k], f.shape);
			return -1;
		}
		return 0;
	}
	if (want == ADA_TASK_AUTO || store_file_get(st, training, &f, &err))
		return 0;      /* a missing file is store_job_create's to report */
	qa_file = is_qa(&f);
	if (want == ADA_TASK_QUESTION_ANSWERING && !is_encoder(info)) {
		reply_error(r, 400, "invalid_value", "task",
			    "task question_answering needs an encoder (BERT, RoBERTa, DeBERTa); model '%s' is a %s decoder",
			    model, info->architecture);
		return -1;
	}
	if ((want == ADA_TASK_QUESTION_ANSWERING) != qa_file) {
		reply_error(r, 400, "invalid_value", "training_file",
			    "task %s, but the lines of training file %s are %s%s", task, training,
			    f.shape,
			    qa_file ? " (question answering data)" :
			    want == ADA_TASK_QUESTION_ANSWERING ? " (question answering needs {\"question\",\"context\",\"answers\"} lines or SQuAD JSON)" : "");
		return -1;
	}
	if (want == ADA_TASK_CAUSAL_LM && is_encoder(info)) {
		reply_error(r, 400, "invalid_value", "task",
			    "model '%s' is a %s encoder: it cannot train a causal LM", model,
			    info->architecture);
		return -1;
	}
	if (want == ADA_TASK_CLASSIFICATION && !is_labelled(&f)) {
		reply_error(r, 400, "invalid_value", "training_file",
			    "task classification, but the lines of training file %s have no label (shape %s)",
			    training, f.shape);
		return -1;
	}
	return 0;
}

/* Chat files (README "Chat data"): what creation can tell from the files'
 * rows and the model's header. Tool calling is valid in an upload but not
 * trained yet; chat data needs a chat template the model carries (and we
 * recognise) or the job names. 0, or -1 after replying. */
static int check_chat(struct request *r, const char *model, const struct ada_model_info *info,
		      const struct ada_method *m, const char *training, const char *validation)
{
	const char *ids[2] = { training, validation };
	const char *params[2] = { "training_file", "validation_file" };
	const char *what[2] = { "training file", "validation file" };
	struct store *st = r->api->cfg.store;
	struct ada_err err = { 0 };
	struct store_file f;
	char param[128];
	int chat = 0;

	for (int k = 0; k < 2; k++) {
		if (!ids[k] || store_file_get(st, ids[k], &f, &err))
			continue;
		if (strcmp(f.shape, ada_data_shape_name(ADA_SHAPE_CHAT)))
			continue;
		chat = 1;
		if (f.tool_use[0]) {
			reply_error(r, 400, "invalid_value", params[k],
				    "%s %s, %s: tool and function calling is not supported yet; "
				    "upload chat lines without tool calls, tool messages or tools",
				    what[k], ids[k], f.tool_use);
			return -1;
		}
	}
	if (!chat || m->hp.chat_template[0])
		return 0;
	snprintf(param, sizeof(param), "method.%s.hyperparameters.chat_template",
		 ada_method_name(m->type));
	if (!info->chat_template[0]) {
		reply_error(r, 400, "missing_required_parameter", param,
			    "chat data needs a chat template and model '%s' has none (GGUF "
			    "tokenizer.chat_template, tokenizer_config.json chat_template): name the one "
			    "to use with %s (%s)", model, param, ada_chat_templates());
		return -1;
	}
	if (!strcmp(info->chat_template, "unknown")) {
		reply_error(r, 400, "invalid_value", param,
			    "the chat template of model '%s' is none we render (templates are "
			    "recognised, not run as Jinja): name the family it follows with %s (%s)",
			    model, param, ada_chat_templates());
		return -1;
	}
	return 0;
}

/* --job-memory-limit against the estimate of what the job will hold
 * (ada_memory_check: weights, activations, trained state; the data is
 * counted by the plan, which checks again). 0, or -1 after replying. */
static int check_memory(struct request *r, const struct ada_method *m,
			const struct ada_model_info *info, const char *training)
{
	const struct api_limits *lim = &r->api->cfg.limits;
	struct store_file tf;
	struct ada_err err = { 0 };
	int task = ADA_TASK_AUTO;

	if (lim->job_memory_limit <= 0)
		return 0;
	if (is_seq2seq_model(info))
		task = ADA_TASK_SEQ2SEQ;
	else if (!store_file_get(r->api->cfg.store, training, &tf, &err))
		task = is_encoder(info) || is_labelled(&tf) ? ADA_TASK_CLASSIFICATION
							    : ADA_TASK_CAUSAL_LM;
	if (!ada_memory_check(info, m, task, 0, lim->job_threads, 0, lim->job_memory_limit, NULL,
			      &err))
		return 0;
	reply_error(r, 400, "exceeds_memory_limit", err.param, "%s (adalorad --job-memory-limit)",
		    err.msg);
	return -1;
}

/* "processes" (README "One job across processes"): absent (*n = 0) or 1
 * to --max-processes, and a step the method's batches can share that many
 * ways (ada_method_check_processes, which names micro_batch_size). 0, or
 * -1 after replying. */
static int processes_field(struct request *r, const json_t *body, const struct ada_method *m,
			   int *n)
{
	const json_t *v = json_object_get(body, "processes");
	const int max = r->api->cfg.limits.max_processes > 1 ? r->api->cfg.limits.max_processes : 1;
	struct ada_err err = { 0 };

	*n = 0;
	if (!v || json_is_null(v))
		return 0;
	if (!json_is_integer(v)) {
		reply_error(r, 400, "invalid_type", "processes", "processes must be an integer");
		return -1;
	}
	if (json_integer_value(v) < 1 || json_integer_value(v) > max) {
		reply_error(r, 400, "invalid_value", "processes",
			    "processes must be between 1 and %d (adalorad --max-processes)", max);
		return -1;
	}
	*n = (int)json_integer_value(v);
	if (ada_method_check_processes(m, *n, &err)) {
		reply_ada_err(r, &err, 400);
		return -1;
	}
	return 0;
}

/* The Idempotency-Key header, as sent or as a quoted string (RFC 8941, as
 * the IETF draft has it): 0 with *key NULL when absent, -1 after a 400. */
static int idempotency_key(struct request *r, char *key, size_t cap, int *present)
{
	const char *k = req_header(r, "Idempotency-Key");
	size_t n;

	*present = 0;
	if (!k)
		return 0;
	n = strlen(k);
	if (n >= 2 && k[0] == '"' && k[n - 1] == '"') {
		k++;
		n -= 2;
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)k[i] < 0x21 || (unsigned char)k[i] > 0x7e || k[i] == '"')
			n = 0;
	if (n == 0 || n >= cap) {
		reply_error(r, 400, "invalid_value", "Idempotency-Key",
			    "the Idempotency-Key header must be 1 to %zu visible ASCII characters (a UUID, say)",
			    cap - 1);
		return -1;
	}
	memcpy(key, k, n);
	key[n] = '\0';
	*present = 1;
	return 0;
}

/* What identifies a creation request: FNV-1a 64 of its body as canonical
 * JSON, and the text's length. */
static int request_hash(const json_t *body, char *out, size_t cap)
{
	char *text = json_dumps(body, JSON_COMPACT | JSON_SORT_KEYS);
	uint64_t h = 0xcbf29ce484222325ull;
	size_t n;

	if (!text)
		return -1;
	for (n = 0; text[n]; n++) {
		h ^= (unsigned char)text[n];
		h *= 0x100000001b3ull;
	}
	free(text);
	snprintf(out, cap, "fnv1a64:%016llx:%zu", (unsigned long long)h, n);
	return 0;
}

/* Answer a retried creation with the job it made. */
static void reply_replay(struct request *r, const struct store_job *job)
{
	size_t len;
	char *text = job_render(r->api, job, &len);

	api_log(r->api, API_LOG_INFO, "msg=job job=%s detail=\"Idempotency-Key replayed\"",
		job->id);
	r->idempotent_replay = 1;
	reply_text(r, 201, text, len);
}

void h_jobs_create(struct request *r)
{
	static const char *const known[] = {
		"model", "training_file", "validation_file", "seed", "suffix", "method", "task",
		"processes", NULL,
	};
	struct api *a = r->api;
	const char *model, *training, *validation, *suffix, *task;
	struct ada_model_info info;
	struct ada_err err = { 0 };
	struct ada_method method;
	struct store_job job;
	json_t *body, *mj = NULL, *default_method = NULL;
	char *method_text = NULL, *hp_text = NULL, id[STORE_ID_MAX], key[256], hash[64];
	const int64_t ttl = a->cfg.limits.idempotency_ttl_s > 0 ? a->cfg.limits.idempotency_ttl_s
								 : 86400;
	uint64_t seed;
	int rc, processes, keyed, replayed = 0;

	if (!(body = body_object(r)))
		return;
	if (idempotency_key(r, key, sizeof(key), &keyed))
		goto out_free;
	if (keyed) {
		if (request_hash(body, hash, sizeof(hash))) {
			reply_error(r, 500, "out_of_memory", NULL, "out of memory");
			goto out_free;
		}
		/* A retry is answered before anything is checked again. */
		rc = store_job_by_idempotency_key(a->cfg.store, key, hash, ttl, &job, &err);
		if (rc == ADA_OK) {
			reply_replay(r, &job);
			store_job_release(&job);
			goto out_free;
		}
		if (rc == STORE_ECONFLICT) {
			reply_error(r, 422, "idempotency_key_reused", "Idempotency-Key", "%s", err.msg);
			goto out_free;
		}
		if (rc != ADA_ENOTFOUND) {
			reply_ada_err(r, &err, 500);
			goto out_free;
		}
	}
	if (body_known_fields(r, body, known, "") ||
	    string_field(r, body, "model", 1, STORE_NAME_MAX - 1, &model) ||
	    string_field(r, body, "training_file", 1, STORE_ID_MAX - 1, &training) ||
	    string_field(r, body, "validation_file", 0, STORE_ID_MAX - 1, &validation) ||
	    string_field(r, body, "suffix", 0, 64, &suffix) ||
	    string_field(r, body, "task", 0, 32, &task) || seed_field(r, body, &seed))
		goto out_free;
	if (suffix && !suffix_ok(suffix)) {
		reply_error(r, 400, "invalid_value", "suffix",
			    "suffix may hold letters, digits, '-', '_' and '.' only");
		goto out_free;
	}
	if (a->cfg.hooks.model_find(a->cfg.hooks.ctx, model, &info)) {
		reply_error(r, 400, "model_not_found", "model",
			    "model '%s' is not in the models directory (GET /v1/models lists them)",
			    model);
		goto out_free;
	}
	if (!json_object_get(body, "method"))
		default_method = json_pack("{s:s}", "type", "adalora");
	if (ada_method_from_json(default_method ? default_method : json_object_get(body, "method"),
				 &method, &err)) {
		reply_ada_err(r, &err, 400);
		goto out_free;
	}
	if (ada_method_check_model(&method, &info, &err)) {
		reply_ada_err(r, &err, 400);
		goto out_free;
	}
	if (check_task(r, model, &info, task, training, validation) ||
	    processes_field(r, body, &method, &processes) ||
	    check_labels(r, model, &info, training, validation) ||
	    check_chat(r, model, &info, &method, training, validation) ||
	    check_memory(r, &method, &info, training))
		goto out_free;
	mj = ada_method_to_json(&method);
	method_text = json_dumps(mj, JSON_COMPACT);
	{
		/* "processes" is kept with the hyperparameters (job_processes()) */
		json_t *hp = json_object_get(json_object_get(mj, ada_method_name(method.type)),
					     "hyperparameters");
		if (processes && hp)
			json_object_set_new(hp, "processes", json_integer(processes));
		hp_text = json_dumps(hp, JSON_COMPACT);
	}
	if (!method_text || !hp_text) {
		reply_error(r, 500, "out_of_memory", NULL, "out of memory");
		goto out_free;
	}
	if (store_new_id("ftjob", id, sizeof(id), &err)) {
		reply_ada_err(r, &err, 500);
		goto out_free;
	}
	{
		struct store_job_spec spec = {
			.id = id, .model = model, .training_file = training,
			.validation_file = validation, .suffix = suffix, .seed = seed,
			.method = method_text, .hyperparameters = hp_text,
			.max_waiting = a->cfg.limits.max_waiting_jobs,
			.idempotency_key = keyed ? key : NULL, .request_hash = keyed ? hash : NULL,
			.idempotency_ttl_s = ttl, .replayed = &replayed,
		};
		rc = store_job_create(a->cfg.store, &spec, &job, &err);
	}
	if (!rc && replayed) {
		/* Another request with the key committed first. */
		reply_replay(r, &job);
		store_job_release(&job);
		goto out_free;
	}
	if (rc == STORE_ECONFLICT && !strcmp(err.param, "Idempotency-Key")) {
		reply_error(r, 422, "idempotency_key_reused", "Idempotency-Key", "%s", err.msg);
		goto out_free;
	}
	if (rc) {
		if (rc == ADA_ENOTFOUND) {
			reply_error(r, 400, "file_not_found", err.param, "%s", err.msg);
			goto out_free;
		}
		reply_ada_err(r, &err, 400);
		goto out_free;
	}
	api_log(a, API_LOG_INFO, "msg=job job=%s status=validating_files", job.id);
	if (a->cfg.hooks.job_created)
		a->cfg.hooks.job_created(a->cfg.hooks.ctx);
	{
		size_t len;
		char *text = job_render(a, &job, &len);
		reply_text(r, 201, text, len);
	}
	store_job_release(&job);
out_free:
	free(method_text);
	free(hp_text);
	json_decref(mj);
	json_decref(default_method);
	json_decref(body);
}

/* {"object":"list","data":[jobs],"has_more"}, the jobs rendered (or cached)
 * texts spliced in as they are. */
static void reply_job_list(struct request *r, const struct store_jobs *l)
{
	struct strbuf out = STRBUF_INIT;
	size_t len;
	char *text;

	strbuf_addstr(&out, "{\"object\":\"list\",\"data\":[");
	for (size_t i = 0; i < l->n; i++) {
		size_t n;
		if (!(text = job_render(r->api, &l->v[i], &n))) {
			strbuf_release(&out);
			goto out_oom;
		}
		if (i)
			strbuf_addch(&out, ',');
		strbuf_add(&out, text, n);
		free(text);
	}
	strbuf_addf(&out, "],\"has_more\":%s}", l->has_more ? "true" : "false");
	if (!(text = strbuf_detach(&out, &len)))   /* any add that failed */
		goto out_oom;
	reply_text(r, 200, text, len);
	return;
out_oom:
	reply_error(r, 500, "out_of_memory", NULL, "out of memory");
}

void h_jobs_list(struct request *r)
{
	const char *status = req_arg(r, "status");
	struct store_job_query q = { .after = req_arg(r, "after"), .status = -1 };
	struct ada_err err = { 0 };
	struct store_jobs l;

	if (req_limit(r, &q.limit))
		return;
	if (status && (q.status = job_status_from_name(status)) < 0) {
		reply_error(r, 400, "invalid_value", "status",
			    "status must be one of validating_files, queued, running, succeeded, failed, cancelled");
		return;
	}
	if (store_job_list(r->api->cfg.store, &q, &l, &err)) {
		reply_ada_err(r, &err, 400);
		return;
	}
	reply_job_list(r, &l);
	store_jobs_release(&l);
}

void h_jobs_get(struct request *r)
{
	struct api *a = r->api;
	struct ada_err err = { 0 };
	struct store_job j;
	int64_t version;
	size_t len;
	char *text;

	/* An unchanged job is answered from the cache: no row, no rendering. */
	if (store_job_version(a->cfg.store, r->params[0], &version, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	text = job_cache_get(a, r->params[0], version, &len);
	if (text) {
		reply_text(r, 200, text, len);
		return;
	}
	if (store_job_get(a->cfg.store, r->params[0], &j, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	text = job_render(a, &j, &len);
	reply_text(r, 200, text, len);
	store_job_release(&j);
}

void h_jobs_cancel(struct request *r)
{
	struct api *a = r->api;
	struct ada_err err = { 0 };
	struct store_job j;

	if (store_job_cancel(a->cfg.store, r->params[0], &j, &err)) {
		reply_ada_err(r, &err, 404);
		return;
	}
	if (j.status == JOB_RUNNING) {
		api_log(a, API_LOG_INFO, "msg=job job=%s status=running detail=\"cancel requested\"",
			j.id);
		if (a->cfg.hooks.job_cancel)
			a->cfg.hooks.job_cancel(a->cfg.hooks.ctx, j.id);
	} else {
		api_log(a, API_LOG_INFO, "msg=job job=%s status=cancelled", j.id);
	}
	reply_json(r, 200, job_object(&j));
	store_job_release(&j);
}
