/*
 * adalora.h — the trainer library's public interface.
 *
 * The CLI (cli/) and the daemon (daemon/, api/) use lib/ only through this
 * header. It knows nothing of HTTP, SQL or the daemon's threads: a caller
 * describes a job (struct ada_job), runs it on a thread of its choosing with
 * ada_train(), and hears about progress through callbacks that run on that
 * same thread. Cancellation is a flag the caller may set from any thread;
 * the trainer reads it at step boundaries.
 *
 * Ownership: every pointer passed in is borrowed for the duration of the
 * call unless a comment says otherwise. json_t values returned by functions
 * named *_to_json are new references owned by the caller.
 */
#ifndef ADALORA_H
#define ADALORA_H

#include <stddef.h>
#include <stdint.h>
#include <jansson.h>

/* ---- result codes and errors ------------------------------------------ */

enum ada_code {
	ADA_OK = 0,
	ADA_EINVAL = 1,       /* bad argument or configuration (param says which) */
	ADA_EIO = 2,          /* the file system failed us */
	ADA_EFORMAT = 3,      /* a file is corrupt, truncated or of an unsupported kind */
	ADA_ENOMEM = 4,
	ADA_ECANCELLED = 5,   /* the job was cancelled through its stop flag */
	ADA_ESTOPPED = 6,     /* the job was asked to pause (shutdown); it checkpointed */
	ADA_ENUMERIC = 7,     /* training diverged (non-finite loss for too long) */
	ADA_EUNSUPPORTED = 8, /* valid input we do not implement (e.g. a tensor type) */
	ADA_ENOTFOUND = 9,    /* a named file does not exist */
};

struct ada_err {
	int code;
	char param[128];      /* dotted field name for configuration errors, else "" */
	char msg[512];        /* one line, no trailing newline */
};

/* Stable snake_case name of a code ("invalid_argument", "bad_format", ...). */
const char *ada_code_name(int code);

/* ---- threads ----------------------------------------------------------- */

/* Threads used by BLAS and lib/'s own parallel loops for jobs started from
 * now on (process-wide; the daemon divides cores among its workers). */
void ada_set_threads(int n);

/* ---- models ------------------------------------------------------------ */

struct ada_model_info {
	char format[16];        /* "gguf", "llama2c", "hf" */
	char architecture[32];  /* "llama", "mistral", "qwen2", "bert", ... */
	int64_t parameters;
	int context_length;
	int n_layers, dim, hidden_dim, n_heads, n_kv_heads, vocab_size;
	int has_tokenizer;      /* the model carries its own tokenizer */
};

/* Read a model's header (not its weights) and describe it. path is a GGUF
 * file, a llama2.c .bin or a Hugging Face directory. */
int ada_model_probe(const char *path, struct ada_model_info *info, struct ada_err *err);

#endif
