/*
 * test_journey — the whole journey a user takes, on stories260K with a
 * small tinyshakespeare JSONL: upload, create an AdaLoRA job, follow its
 * live stream (loss falls, the budget follows the schedule to b(T)), read
 * the rank matrix, download the adapter, and apply it with
 * `adalora eval --adapter` (it must fit the text better than the base).
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "harness.h"

#define STEPS 60
#define SEQ 64

static struct daemon d;
static char *dir, *file_id, *job_id, data_path[2200];

/* The steps of the journey are fixtures, each made by the first test that
 * needs it, so that every test also runs alone (ADALORA_TEST_ONLY). */

/* The training file, uploaded. */
static const char *uploaded(void)
{
	if (!file_id)
		file_id = upload(&d, data_path, "shakespeare.jsonl");
	return file_id;
}

/* The AdaLoRA job, created (not waited for). */
static const char *created(void)
{
	json_t *job = NULL;

	if (job_id)
		return job_id;
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs",
			       adalora_job("stories260K", uploaded(), STEPS, SEQ, 20), &job), 201);
	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "validating_files");
	job_id = strdup(json_string_value(json_object_get(job, "id")) ?: "");
	json_decref(job);
	return job_id;
}

/* The job, finished. */
static const char *finished(void)
{
	json_decref(wait_job(&d, created(), 300));
	return job_id;
}

static void test_upload_and_models(void)
{
	struct http_resp r;
	size_t len;
	char path[256], *local = read_file(data_path, &len);
	json_t *models = NULL, *m;
	size_t i;
	int found = 0;

	snprintf(path, sizeof(path), "/v1/files/%s/content", uploaded());
	http(&d, "GET", path, NULL, NULL, 0, &r);
	CHECK_INT_EQ(r.status, 200);
	CHECK(r.len == len && !memcmp(r.body, local, len));
	http_resp_free(&r);
	free(local);

	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models", NULL, &models), 200);
	json_array_foreach(json_object_get(models, "data"), i, m) {
		if (strcmp(json_string_value(json_object_get(m, "id")), "stories260K"))
			continue;
		found = 1;
		CHECK_STR_EQ(json_string_value(json_object_get(m, "architecture")), "llama");
		CHECK(json_integer_value(json_object_get(m, "parameters")) > 200000);
		CHECK_INT_EQ(json_integer_value(json_object_get(m, "context_length")), 512);
	}
	CHECK(found);
	json_decref(models);
}

/* b(t) for every t of the job's schedule, from the preview endpoint. */
static long *schedule(void)
{
	json_t *body = json_pack("{s:i,s:i,s:i,s:i,s:i,s:i,s:s}", "total_steps", STEPS, "tinit",
				 STEPS / 10, "tfinal", STEPS / 5, "deltaT", 5, "init_r", 6,
				 "target_r", 3, "model", "stories260K");
	json_t *out = NULL, *pt;
	long *b = calloc(STEPS + 1, sizeof(*b));
	size_t i;

	for (int t = 0; t <= STEPS; t++)
		b[t] = -1;
	CHECK_INT_EQ(http_json(&d, "POST", "/v1/adalora/schedule", body, &out), 200);
	json_array_foreach(json_object_get(out, "points"), i, pt) {
		long t = (long)json_integer_value(json_array_get(pt, 0));
		if (t >= 0 && t <= STEPS)
			b[t] = (long)json_integer_value(json_array_get(pt, 1));
	}
	CHECK_INT_EQ(json_integer_value(json_object_get(out, "target")), 35 * 3);
	json_decref(out);
	return b;
}

static void test_train_and_stream(void)
{
	struct sse_result s;
	json_t *e;
	long *b = schedule(), last_step = 0, n_metrics = 0, last_budget = -1;
	double first_loss = NAN, last_loss = NAN;
	size_t i;

	sse_follow(&d, created(), -1, 180, 0, &s);
	CHECK_STR_EQ(s.done_status, "succeeded");
	json_array_foreach(s.events, i, e) {
		json_t *data = json_object_get(e, "data");
		CHECK_INT_EQ(s.ids[i], (long)i + 1);   /* dense, in order, from 1 */
		if (strcmp(json_string_value(json_object_get(e, "type")), "metrics"))
			continue;
		long step = (long)json_integer_value(json_object_get(data, "step"));
		double loss = json_number_value(json_object_get(data, "train_loss"));
		long budget = (long)json_integer_value(json_object_get(data, "budget"));
		CHECK(step > last_step);
		last_step = step;
		n_metrics++;
		if (isnan(first_loss))
			first_loss = loss;
		last_loss = loss;
		/* The budget of step n is b(t) of its last optimizer step t = n - 1. */
		if (b[step - 1] >= 0)
			CHECK_MSG(budget == b[step - 1], "step %ld: budget %ld, schedule %ld", step,
				  budget, b[step - 1]);
		last_budget = budget;
	}
	CHECK_INT_EQ(last_step, STEPS);
	CHECK_INT_EQ(n_metrics, STEPS / 5);
	CHECK_MSG(last_loss < first_loss - 0.5, "loss %.3f -> %.3f", first_loss, last_loss);
	CHECK_INT_EQ(last_budget, b[STEPS - 1]);   /* b(T) */
	CHECK_INT_EQ(last_budget, 105);
	sse_result_free(&s);
	free(b);

	/* Resuming the stream after event 10 gives 11, 12, ... and done. */
	sse_follow(&d, job_id, 10, 30, 0, &s);
	CHECK(json_array_size(s.events) > 0 && s.ids[0] == 11);
	CHECK_STR_EQ(s.done_status, "succeeded");
	sse_result_free(&s);
}

static void test_results(void)
{
	char path[512], out[2400];
	json_t *job = NULL, *ranks = NULL, *row, *events = NULL, *ck = NULL;
	long sum = 0;
	size_t i, k;

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s", finished());
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &job), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(job, "status")), "succeeded");
	snprintf(out, sizeof(out), "ft:stories260K::%s", job_id);
	CHECK_STR_EQ(json_string_value(json_object_get(job, "fine_tuned_model")), out);
	CHECK(json_integer_value(json_object_get(job, "trained_tokens")) > 0);
	CHECK_INT_EQ(json_integer_value(json_object_get(json_object_get(job, "budget"), "current")),
		     105);
	CHECK_INT_EQ(json_array_size(json_object_get(job, "result_files")), 2);
	json_decref(job);

	/* Ranks: layers x modules, kept triplets summing to the final budget. */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/ranks?history=true", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ranks), 200);
	CHECK_INT_EQ(json_array_size(json_object_get(ranks, "layers")), 5);
	CHECK_INT_EQ(json_array_size(json_object_get(ranks, "modules")), 7);
	json_array_foreach(json_object_get(ranks, "layers"), i, row) {
		json_t *v;
		CHECK_INT_EQ(json_array_size(row), 7);
		json_array_foreach(row, k, v) {
			CHECK(json_integer_value(v) >= 0 && json_integer_value(v) <= 6);
			sum += (long)json_integer_value(v);
		}
	}
	CHECK_INT_EQ(sum, json_integer_value(json_object_get(ranks, "kept")));
	CHECK_INT_EQ(sum, 105);
	CHECK(json_is_true(json_object_get(ranks, "final")));
	CHECK(json_array_size(json_object_get(ranks, "history")) > 3);
	json_decref(ranks);

	/* Paging: newest first without a cursor, oldest first after one. */
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?limit=5", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &events), 200);
	CHECK_INT_EQ(json_array_size(json_object_get(events, "data")), 5);
	CHECK(json_is_true(json_object_get(events, "has_more")));
	json_decref(events);
	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=ftevent-%s-3&limit=2",
		 job_id, job_id + 6);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &events), 200);
	snprintf(out, sizeof(out), "ftevent-%s-4", job_id + 6);
	CHECK_STR_EQ(json_string_value(json_object_get(
			     json_array_get(json_object_get(events, "data"), 0), "id")), out);
	json_decref(events);

	/* Every event names its kind (README, "Events"), consistent with its
	 * type and message; the life cycle's carry the job's status. */
	{
		static const char *const statuses[] = {
			"validating_files", "queued", "running", "succeeded", "failed", "cancelled",
		};
		int seen_status = 0, seen_metrics = 0, seen_ranks = 0, seen_ckpt = 0, more = 1;
		char after[96];
		json_t *e;

		snprintf(after, sizeof(after), "ftevent-%s-0", job_id + 6);
		while (more) {
			snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/events?after=%s&limit=100",
				 job_id, after);
			CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &events), 200);
			more = json_is_true(json_object_get(events, "has_more"));
			json_array_foreach(json_object_get(events, "data"), i, e) {
				const json_t *data = json_object_get(e, "data");
				const char *kind = json_string_value(json_object_get(data, "kind"));
				const char *msg = json_string_value(json_object_get(e, "message"));
				const char *type = json_string_value(json_object_get(e, "type"));
				const char *st = json_string_value(json_object_get(data, "status"));

				snprintf(after, sizeof(after), "%s",
					 json_string_value(json_object_get(e, "id")));
				CHECK_MSG(kind != NULL, "an event has no data.kind: %s", msg);
				if (!kind || !msg || !type)
					continue;
				CHECK_MSG(!strcmp(type, "metrics") == !strcmp(kind, "metrics"), "%s: %s",
					  kind, msg);
				CHECK_MSG(!strcmp(msg, "ranks") == !strcmp(kind, "ranks"), "%s: %s", kind,
					  msg);
				if (!strcmp(kind, "status")) {
					int known = 0;
					for (size_t si = 0; si < sizeof(statuses) / sizeof(*statuses); si++)
						known |= st && !strcmp(st, statuses[si]);
					CHECK_MSG(known, "status event '%s' has status %s", msg,
						  st ? st : "(none)");
					seen_status++;
				}
				seen_metrics += !strcmp(kind, "metrics");
				seen_ranks += !strcmp(kind, "ranks");
				if (!strcmp(kind, "checkpoint")) {
					seen_ckpt++;
					CHECK(!strncmp(msg, "Checkpoint saved", 16));
					CHECK(json_integer_value(json_object_get(data, "step")) % 20 == 0);
				}
			}
			if (!json_array_size(json_object_get(events, "data")))
				more = 0;
			json_decref(events);
		}
		/* created, validating, queued, started, succeeded */
		CHECK_MSG(seen_status >= 5, "%d status events", seen_status);
		CHECK(seen_metrics > 0 && seen_ranks > 0);
		CHECK_INT_EQ(seen_ckpt, 2);
	}

	snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/checkpoints", job_id);
	CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &ck), 200);
	CHECK_INT_EQ(json_array_size(json_object_get(ck, "data")), 2);   /* steps 40, 20 */
	CHECK_INT_EQ(json_integer_value(json_object_get(json_array_get(json_object_get(ck, "data"), 0),
							"step_number")), 40);
	json_decref(ck);
}

/* mean_nll of `adalora eval` on the training text, with or without an adapter. */
static double eval_nll(const char *adapter)
{
	const char *bin = getenv("ADALORA_BIN");
	char model[2200];
	const char *argv[12];
	int n = 0, status;
	char *out;
	json_t *j;
	double nll;

	snprintf(model, sizeof(model), "%s/models/stories260K.gguf", dir);
	argv[n++] = bin;
	argv[n++] = "eval";
	argv[n++] = "--model";
	argv[n++] = model;
	argv[n++] = "--data";
	argv[n++] = data_path;
	argv[n++] = "--seq-len";
	argv[n++] = "64";
	if (adapter) {
		argv[n++] = "--adapter";
		argv[n++] = adapter;
	}
	argv[n] = NULL;
	out = run_capture(argv, &status);
	CHECK_INT_EQ(status, 0);
	j = json_loads(out, 0, NULL);
	nll = json_number_value(json_object_get(j, "mean_nll"));
	json_decref(j);
	free(out);
	return nll;
}

static void test_adapter(void)
{
	static const char *const names[] = { "adapter_model.safetensors", "adapter_config.json" };
	char path[512], local[2400], adir[2300];
	struct http_resp r;
	json_t *cfg;
	double base, tuned;

	finished();
	snprintf(adir, sizeof(adir), "%s/adapter", dir);
	mkdir(adir, 0755);
	for (int i = 0; i < 2; i++) {
		FILE *f;
		snprintf(path, sizeof(path), "/v1/fine_tuning/jobs/%s/adapter/%s", job_id, names[i]);
		http(&d, "GET", path, NULL, NULL, 0, &r);
		CHECK_INT_EQ(r.status, 200);
		snprintf(local, sizeof(local), "%s/%s", adir, names[i]);
		f = fopen(local, "wb");
		fwrite(r.body, 1, r.len, f);
		fclose(f);
		http_resp_free(&r);
	}
	snprintf(local, sizeof(local), "%s/adapter_config.json", adir);
	cfg = json_load_file(local, 0, NULL);
	CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "ADALORA");
	json_decref(cfg);

	base = eval_nll(NULL);
	tuned = eval_nll(adir);
	CHECK_MSG(tuned < base - 0.3, "mean NLL base %.3f, with the adapter %.3f", base, tuned);

	/* The result is listed as a model. */
	{
		json_t *models = NULL, *m;
		size_t i;
		int found = 0;
		char id[256];
		snprintf(id, sizeof(id), "ft:stories260K::%s", job_id);
		http_json(&d, "GET", "/v1/models", NULL, &models);
		json_array_foreach(json_object_get(models, "data"), i, m)
			found |= !strcmp(json_string_value(json_object_get(m, "id")), id);
		CHECK(found);
		json_decref(models);
		snprintf(path, sizeof(path), "/v1/models/%s", id);
		CHECK_INT_EQ(http_json(&d, "GET", path, NULL, &models), 200);
		CHECK_STR_EQ(json_string_value(json_object_get(models, "parent")), "stories260K");
		json_decref(models);
	}
}

int main(void)
{
	if (!getenv("ADALORA_BIN"))
		FATAL("ADALORA_BIN is not set (run the tests with meson)");
	dir = scratch_stories("journey", data_path, sizeof(data_path));
	daemon_start(&d, dir, (const char *const[]){ "--sse-keepalive", "0.2", NULL });
	RUN(test_upload_and_models);
	RUN(test_train_and_stream);
	RUN(test_results);
	RUN(test_adapter);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	free(file_id);
	free(job_id);
	free(dir);
	return check_summary();
}
