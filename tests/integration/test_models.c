/*
 * test_models — the models directory: GGUF files, llama2.c checkpoints
 * with a tokenizer beside them, and Hugging Face directories are models
 * named after the entry (without extension); tokenizers, hidden files,
 * damaged files and checkpoints with no tokenizer are not. A model added
 * while the daemon runs is found without a restart, and no sooner than
 * --models-rescan-interval allows. Offline.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "tiny_model.h"

static struct daemon d;
static char *dir, *file_id;

static void path_in(char *buf, size_t cap, const char *name)
{
	snprintf(buf, cap, "%s/models/%s", dir, name);
}

static void write_bytes(const char *name, const void *data, size_t len)
{
	char path[2400];
	FILE *f;

	path_in(path, sizeof(path), name);
	f = fopen(path, "wb");
	if (!f || fwrite(data, 1, len, f) != len)
		FATAL("%s: %s", path, strerror(errno));
	fclose(f);
}

static void make_models(void)
{
	struct model_config cfg;
	struct model *m = NULL;
	struct ada_err err = { 0 };
	char path[2400];

	/* a.gguf: a model with its tokenizer inside. */
	{
		path_in(path, sizeof(path), "a.gguf");
		if (ada_create_model("tiny", 1, path, &err))
			FATAL("%s", err.msg);
	}
	tiny_config(&cfg, "llama");
	if (tiny_model_random(&cfg, 2, &m))
		FATAL("tiny model");
	/* b.bin: a llama2.c checkpoint, its tokenizer beside it (tok48.bin). */
	path_in(path, sizeof(path), "b.bin");
	if (tiny_write_llama2c(m, path, 1, &err))
		FATAL("%s", err.msg);
	path_in(path, sizeof(path), "tok48.bin");
	if (tiny_write_llama2c_tokenizer(path, cfg.vocab_size, &err))
		FATAL("%s", err.msg);
	/* c/: a Hugging Face directory with its tokenizer. */
	path_in(path, sizeof(path), "c");
	if (tiny_write_hf(m, path, ST_F32, TINY_HF_SINGLE, &err))
		FATAL("%s", err.msg);
	write_bytes("c/tokenizer.json", "{}", 2);
	/* Not models: Hugging Face directories without a tokenizer the loader
	 * takes (none; a Llama with only BERT's vocab.txt). */
	path_in(path, sizeof(path), "f");
	if (tiny_write_hf(m, path, ST_F32, TINY_HF_SINGLE, &err))
		FATAL("%s", err.msg);
	path_in(path, sizeof(path), "g");
	if (tiny_write_hf(m, path, ST_F32, TINY_HF_SINGLE, &err))
		FATAL("%s", err.msg);
	write_bytes("g/vocab.txt", "[PAD]\n[UNK]\n", 12);
	/* Not models: a checkpoint whose tokenizer would be tok32.bin, a
	 * damaged GGUF, a hidden file, a text file. */
	cfg.vocab_size = 32;
	model_free(m);
	m = NULL;
	if (tiny_model_random(&cfg, 3, &m))
		FATAL("tiny model");
	path_in(path, sizeof(path), "d.bin");
	if (tiny_write_llama2c(m, path, 1, &err))
		FATAL("%s", err.msg);
	model_free(m);
	/* Hand-written on purpose: no writer makes a damaged file. */
	write_bytes("bad.gguf", "GGUF\x03\x00\x00\x00garbage", 15);
	path_in(path, sizeof(path), ".hidden.gguf");
	if (ada_create_model("tiny", 1, path, &err))
		FATAL("%s", err.msg);
	write_bytes("notes.txt", "not a model\n", 12);
}

/* The ids GET /v1/models lists, comma-separated, in order. */
static void model_ids(char *out, size_t cap)
{
	json_t *l = NULL, *m;
	size_t i;

	out[0] = '\0';
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models", NULL, &l), 200);
	json_array_foreach(json_object_get(l, "data"), i, m) {
		if (out[0])
			strncat(out, ",", cap - strlen(out) - 1);
		strncat(out, json_string_value(json_object_get(m, "id")), cap - strlen(out) - 1);
		CHECK_STR_EQ(json_string_value(json_object_get(m, "object")), "model");
		CHECK_STR_EQ(json_string_value(json_object_get(m, "architecture")), "llama");
		CHECK(json_integer_value(json_object_get(m, "parameters")) > 0);
		CHECK(json_integer_value(json_object_get(m, "context_length")) > 0);
	}
	json_decref(l);
}

static void test_listing(void)
{
	char ids[512];
	json_t *m = NULL;

	model_ids(ids, sizeof(ids));
	CHECK_STR_EQ(ids, "a,b,c");
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/b", NULL, &m), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(m, "format")), "llama2c");
	CHECK_INT_EQ(json_integer_value(json_object_get(m, "context_length")), 64);
	json_decref(m);
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/c", NULL, &m), 200);
	CHECK_STR_EQ(json_string_value(json_object_get(m, "format")), "hf");
	json_decref(m);
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/d", NULL, NULL), 404);
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/bad", NULL, NULL), 404);
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/f", NULL, NULL), 404);
	CHECK_INT_EQ(http_json(&d, "GET", "/v1/models/g", NULL, NULL), 404);
}

/* A job on a directory without a tokenizer is refused at creation (it
 * used to be accepted, then fail its plan). */
static void test_no_tokenizer_refused(void)
{
	json_t *out = NULL;

	CHECK_INT_EQ(http_json(&d, "POST", "/v1/fine_tuning/jobs", adalora_job("f", file_id, 10, 32, 5),
			       &out), 400);
	CHECK_STR_EQ(json_string_value(json_object_get(json_object_get(out, "error"), "code")),
		     "model_not_found");
	json_decref(out);
}

/* models/name: a copy of a.gguf, as a user would drop one in. */
static void copy_model(const char *name)
{
	char src[2400], *buf;
	size_t len;

	path_in(src, sizeof(src), "a.gguf");
	buf = read_file(src, &len);
	if (!buf)
		FATAL("cannot read %s", src);
	write_bytes(name, buf, len);
	free(buf);
}

static long create_job(const char *model)
{
	json_t *job = NULL;
	long status = http_json(&d, "POST", "/v1/fine_tuning/jobs",
				adalora_job(model, file_id, 10, 32, 5), &job);

	json_decref(job);
	return status;
}

/* A model copied in while the daemon runs can be used at once (the
 * daemon runs with --models-rescan-interval 0: every ask rescans). */
static void test_added_later(void)
{
	char ids[512];

	copy_model("e.gguf");
	CHECK_INT_EQ(create_job("e"), 201);
	model_ids(ids, sizeof(ids));
	CHECK_STR_EQ(ids, "a,b,c,e");
}

/* Within the rescan interval the directory is not read again: neither a
 * listing nor a job for an unknown model finds a new entry, until the
 * next scan (here: the start of the daemon). */
static void test_rescan_interval(void)
{
	char before[512], ids[512], want[520];

	CHECK_INT_EQ(daemon_restart(&d, dir,
				    (const char *const[]){ "--models-rescan-interval", "3600", NULL }),
		     0);
	model_ids(before, sizeof(before));
	copy_model("f.gguf");
	model_ids(ids, sizeof(ids));
	CHECK_STR_EQ(ids, before);
	CHECK_INT_EQ(create_job("f"), 400);
	CHECK_INT_EQ(daemon_restart(&d, dir,
				    (const char *const[]){ "--models-rescan-interval", "3600", NULL }),
		     0);
	model_ids(ids, sizeof(ids));
	snprintf(want, sizeof(want), "%s,f", before);
	CHECK_STR_EQ(ids, want);
	CHECK_INT_EQ(create_job("f"), 201);
}

int main(void)
{
	dir = scratch_dir("models");
	make_models();
	daemon_start(&d, dir, (const char *const[]){ "--models-rescan-interval", "0", NULL });
	{
		char data[2400];
		snprintf(data, sizeof(data), "%s/words.jsonl", dir);
		write_jsonl(data, 0, 4000);
		file_id = upload(&d, data, "words.jsonl");
	}
	RUN(test_listing);
	RUN(test_no_tokenizer_refused);
	RUN(test_added_later);
	RUN(test_rescan_interval);
	CHECK_INT_EQ(daemon_stop(&d), 0);
	/* The skipped entries were each logged once, with the reason. */
	{
		char *log = read_file(d.log_path, NULL);
		CHECK(log && strstr(log, "entry=d.bin") && strstr(log, "tok32.bin"));
		CHECK(log && strstr(log, "entry=bad.gguf"));
		CHECK(log && strstr(log, "entry=f") && strstr(log, "no tokenizer.json"));
		CHECK(log && strstr(log, "entry=g"));
		free(log);
	}
	free(file_id);
	free(dir);
	return check_summary();
}
