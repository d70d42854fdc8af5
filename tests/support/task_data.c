/*
 * task_data — the tests' own training data; see task_data.h.
 *
 * Each writer prints into a memory stream and hands the bytes to
 * file_write_atomic, so a test never trains on half a file and every
 * failure has one place to be reported.
 */
#include "task_data.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tiny_model.h"
#include "util/fileio.h"
#include "util/rng.h"

const char *const task_words[TASK_N_WORDS] = {
	"the", "cat", "sat", "on", "a", "mat", "and", "dog",
	"ran", "to", "big", "red", "ball", "in", "park", "sun",
};

/* A file being written: its bytes so far, and the random stream. */
struct out {
	FILE *f;
	char *buf;
	size_t len;
	struct rng r;
};

static int out_open(struct out *o, uint64_t seed, struct ada_err *err)
{
	o->buf = NULL;
	o->len = 0;
	rng_seed(&o->r, seed);
	o->f = open_memstream(&o->buf, &o->len);
	return o->f ? ADA_OK : ada_fail(err, ADA_ENOMEM, "open_memstream: %s", strerror(errno));
}

/* n random words of task_words, one space between. */
static void put_words(struct out *o, int n)
{
	for (int w = 0; w < n; w++)
		fprintf(o->f, "%s%s", w ? " " : "", task_words[rng_below(&o->r, TASK_N_WORDS)]);
}

/* Flush o into path (atomically) and release it. */
static int out_close(struct out *o, const char *path, struct ada_err *err)
{
	int rc = fclose(o->f) ? ada_fail(err, ADA_ENOMEM, "%s: cannot buffer the data", path)
			      : file_write_atomic(path, o->buf, o->len, err);

	free(o->buf);
	return rc;
}

int task_write_corpus(const char *path, int n_docs, uint64_t seed, struct ada_err *err)
{
	struct out o;
	int rc = out_open(&o, seed, err);

	for (int doc = 0; doc < n_docs && !rc; doc++) {
		for (int s = 0; s < 6; s++) {
			put_words(&o, 8);
			fputs(". ", o.f);
		}
		fputs("\n\n", o.f);
	}
	return rc ? rc : out_close(&o, path, err);
}

int task_write_text_jsonl(const char *path, size_t max_bytes, uint64_t seed, struct ada_err *err)
{
	struct out o;
	int rc = out_open(&o, seed, err);

	while (!rc) {
		fputs("{\"text\": \"", o.f);
		put_words(&o, 24);
		fputs(".\"}\n", o.f);
		if ((size_t)ftell(o.f) >= max_bytes)
			break;
	}
	return rc ? rc : out_close(&o, path, err);
}

int task_write_shakespeare_jsonl(const char *path, const char *assets, size_t max_bytes,
				 struct ada_err *err)
{
	char *src = path_join(assets, "data/text/tinyshakespeare/input.txt"), *text = NULL, *p;
	size_t len, written = 0;
	struct out o;
	int rc;

	if (!src)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	rc = file_read_all(src, &text, &len, err);
	free(src);
	if (rc)
		return rc;
	if ((rc = out_open(&o, 0, err))) {
		free(text);
		return rc;
	}
	for (p = text; *p && written < max_bytes;) {
		char *end = strstr(p, "\n\n"), *line;
		size_t n = end ? (size_t)(end - p) : strlen(p);
		json_t *j = json_pack("{s:s%}", "text", p, n);

		line = j ? json_dumps(j, JSON_COMPACT) : NULL;
		json_decref(j);
		if (!line) {
			rc = ada_fail(err, ADA_EFORMAT, "tinyshakespeare: a speech is not UTF-8");
			break;
		}
		fprintf(o.f, "%s\n", line);
		written += strlen(line) + 1;
		free(line);
		p += n;
		while (*p == '\n')
			p++;
	}
	free(text);
	if (rc) {
		fclose(o.f);
		free(o.buf);
		return rc;
	}
	return out_close(&o, path, err);
}

int task_write_zebra(const char *path, int n, uint64_t seed, enum zebra_kind kind,
		     const char *last_label, struct ada_err *err)
{
	const int pairs = kind == ZEBRA_PAIRS;
	struct out o;
	int rc = out_open(&o, seed, err);

	for (int i = 0; i < n && !rc; i++) {
		char a[128] = "", b[128] = "", label[32];
		int zebras = 0, len = 2 + (int)rng_below(&o.r, 4);

		for (int w = 0; w < len; w++) {
			char *dst = pairs && w >= len / 2 ? b : a;
			const char *word = task_words[rng_below(&o.r, TASK_N_WORDS)];

			/* about half the lines get one: by chance, else at the end */
			if (rng_below(&o.r, kind == ZEBRA_REGRESSION ? 4 : 6) == 0 ||
			    (w == len - 1 && !zebras && rng_below(&o.r, 2))) {
				word = "zebra";
				zebras++;
			}
			if (pairs && dst == a && !strcmp(word, "zebra"))
				word = "cat";     /* pairs: only text_b counts */
			strcat(dst, *dst ? " " : "");
			strcat(dst, word);
		}
		if (kind == ZEBRA_REGRESSION)
			snprintf(label, sizeof(label), "%.1f", 0.5 * zebras);
		else if (kind == ZEBRA_STRING)
			snprintf(label, sizeof(label), "\"%s\"", zebras ? "positive" : "negative");
		else
			snprintf(label, sizeof(label), "%d", pairs ? strstr(b, "zebra") != NULL : zebras > 0);
		if (last_label && i == n - 1)
			snprintf(label, sizeof(label), "%s", last_label);
		if (pairs)
			fprintf(o.f, "{\"text_a\":\"%s\",\"text_b\":\"%s\",\"label\":%s}\n", a,
				*b ? b : "sun", label);
		else
			fprintf(o.f, "{\"text\":\"%s\",\"label\":%s}\n", a, label);
	}
	return rc ? rc : out_close(&o, path, err);
}

int task_write_vocab(const char *dir, int vocab_size, struct ada_err *err)
{
	char *path = path_join(dir, "vocab.txt");
	struct out o;
	int rc;

	if (!path)
		return ada_fail(err, ADA_ENOMEM, "out of memory");
	if (vocab_size < 6 + TASK_N_WORDS) {
		free(path);
		return ada_fail(err, ADA_EINVAL, "a vocabulary of %d cannot hold the task's %d words",
				vocab_size, 6 + TASK_N_WORDS);
	}
	if ((rc = out_open(&o, 0, err))) {
		free(path);
		return rc;
	}
	fputs("[PAD]\n[UNK]\n[CLS]\n[SEP]\n[MASK]\nzebra\n", o.f);
	for (int i = 0; i < TASK_N_WORDS; i++)
		fprintf(o.f, "%s\n", task_words[i]);
	for (int i = 6 + TASK_N_WORDS; i < vocab_size; i++)
		fprintf(o.f, "w%02d\n", i);
	rc = out_close(&o, path, err);
	free(path);
	return rc;
}

int task_make_encoder(const char *arch, uint64_t seed, const char *dir, struct ada_err *err)
{
	struct model_config cfg;
	struct model *m = NULL;
	int rc;

	if (!strcmp(arch, "deberta-v2"))
		tiny_deberta_config(&cfg);
	else
		tiny_bert_config(&cfg, arch);
	if ((rc = tiny_bert_random(&cfg, seed, &m)))
		return ada_fail(err, rc, "a random tiny %s", arch);
	rc = tiny_write_bert_hf(m, dir, NULL, err);
	model_free(m);
	return rc ? rc : task_write_vocab(dir, cfg.vocab_size, err);
}

int task_write_qa(const char *path, int n, uint64_t seed, int squad, int impossible_every,
		  struct ada_err *err)
{
	struct out o;
	int rc = out_open(&o, seed, err);

	if (!rc && squad)
		fprintf(o.f, "{\"version\": \"v2.0\", \"data\": [{\"title\": \"zebras\", \"paragraphs\": [\n");
	for (int i = 0; i < n && !rc; i++) {
		const int none = impossible_every > 0 && i % impossible_every == impossible_every - 1;
		const int len = 8 + (int)rng_below(&o.r, 7), at = (int)rng_below(&o.r, (uint64_t)len);
		char ctx[512] = "", ans[64] = "";
		int start = -1;

		for (int w = 0; w < len; w++) {
			if (w == at && !none) {
				start = (int)strlen(ctx) + (*ctx ? 1 : 0);
				snprintf(ans, sizeof(ans), "zebra %s",
					 task_words[rng_below(&o.r, TASK_N_WORDS)]);
				strcat(ctx, *ctx ? " " : "");
				strcat(ctx, ans);
				continue;
			}
			strcat(ctx, *ctx ? " " : "");
			strcat(ctx, task_words[rng_below(&o.r, TASK_N_WORDS)]);
		}
		if (squad) {
			char a[128] = "";
			if (!none)
				snprintf(a, sizeof(a), "{\"text\": \"%s\", \"answer_start\": %d}", ans,
					 start);
			fprintf(o.f,
				"%s{\"context\": \"%s\", \"qas\": [{\"id\": \"q%d\", \"question\": \"where is the zebra\", \"answers\": [%s], \"is_impossible\": %s}]}\n",
				i ? "," : "", ctx, i, a, none ? "true" : "false");
		}
		else if (none)
			fprintf(o.f, "{\"id\": \"q%d\", \"question\": \"where is the zebra\", \"context\": \"%s\", \"answers\": {\"text\": [], \"answer_start\": []}}\n",
				i, ctx);
		else
			fprintf(o.f, "{\"id\": \"q%d\", \"question\": \"where is the zebra\", \"context\": \"%s\", \"answers\": {\"text\": [\"%s\"], \"answer_start\": [%d]}}\n",
				i, ctx, ans, start);
	}
	if (!rc && squad)
		fprintf(o.f, "]}]}\n");
	return rc ? rc : out_close(&o, path, err);
}

int task_write_qa_long(const char *path, int n, int words, uint64_t seed, struct ada_err *err)
{
	struct out o;
	int rc = out_open(&o, seed, err);

	for (int i = 0; i < n && !rc; i++) {
		const int at = (int)rng_below(&o.r, (uint64_t)words);
		char *ctx = NULL, ans[64] = "";
		size_t len = 0;
		long start = 0;
		FILE *c = open_memstream(&ctx, &len);

		if (!c)
			return ada_fail(err, ADA_ENOMEM, "open_memstream: %s", strerror(errno));
		for (int w = 0; w < words; w++) {
			if (w)
				fputc(' ', c);
			if (w == at) {
				snprintf(ans, sizeof(ans), "zebra %s",
					 task_words[rng_below(&o.r, TASK_N_WORDS)]);
				start = ftell(c);
				fputs(ans, c);
			} else {
				fputs(task_words[rng_below(&o.r, TASK_N_WORDS)], c);
			}
		}
		fclose(c);
		fprintf(o.f, "{\"id\": \"long%d\", \"question\": \"where is the zebra\", \"context\": \"%s\", \"answers\": {\"text\": [\"%s\"], \"answer_start\": [%ld]}}\n",
			i, ctx ? ctx : "", ans, start);
		free(ctx);
	}
	return rc ? rc : out_close(&o, path, err);
}
