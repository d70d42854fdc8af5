/*
 * models — the models directory: every base model the daemon can train.
 *
 * A model is an entry of --models-dir: a "*.gguf" file, a llama2.c "*.bin"
 * with its tokenizer beside it ("<name>.tokenizer.bin", "tokenizer.bin" or
 * llama2.c's "tok<vocab size>.bin"), or a Hugging Face directory (one with
 * a config.json). Its id is the entry's name without extension
 * ("stories260K.gguf" -> "stories260K").
 *
 * Models are described by ada_model_probe() (headers only) and the
 * directory is rescanned when asked for the list, or for a model it does
 * not know, at most once per rescan interval (--models-rescan-interval, a
 * second by default; 0 rescans at every ask); unchanged entries (same size
 * and modification time) are not probed again. Thread-safe.
 */
#ifndef ADALORAD_DAEMON_MODELS_H
#define ADALORAD_DAEMON_MODELS_H

#include <stddef.h>
#include <stdint.h>

#include "adalora.h"
#include "api.h"

struct model_entry {
	char id[STORE_NAME_MAX];
	char path[4096];
	char tokenizer[4096];       /* "" = the model's own */
	struct ada_model_info info;
	int64_t mtime, size;        /* of the file (or config.json) when probed */
};

struct models;

/* Scan dir now; rescan at most once every rescan_ms milliseconds after. */
int models_open(const char *dir, int64_t rescan_ms, struct models **out, struct ada_err *err);
void models_free(struct models *m);
/* ADA_ENOTFOUND when there is no such model. */
int models_find(struct models *m, const char *id, struct model_entry *out);
/* All models, sorted by id, as the API lists them; *out is the caller's. */
int models_list(struct models *m, struct api_model **out, size_t *n, struct ada_err *err);
/* Entries found (for the start-up log). */
size_t models_count(struct models *m);

#endif
