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

/* ---- training data ----------------------------------------------------- */

/* A training file is UTF-8, either JSONL (every non-blank line one JSON
 * object; told by its first non-blank line parsing as an object) or plain
 * text (documents separated by blank lines). All records of a file have
 * one shape. */
enum ada_data_format {
	ADA_DATA_PLAIN_TEXT = 1,
	ADA_DATA_JSONL = 2,
};

enum ada_data_shape {
	ADA_SHAPE_TEXT = 1,              /* {"text"} or a plain-text document */
	ADA_SHAPE_PROMPT_COMPLETION = 2, /* {"prompt", "completion"} */
	ADA_SHAPE_CHAT = 3,              /* {"messages": [{"role", "content"}, ...]} */
	ADA_SHAPE_CLASSIFY = 4,          /* {"text", "label"} */
	ADA_SHAPE_CLASSIFY_PAIR = 5,     /* {"text_a", "text_b", "label"} */
};

/* What the labels of a classification file are. One label written as a
 * JSON real (0.5, 1.0, 1e0) makes the file a regression (ADA_LABEL_FLOAT);
 * strings and numbers do not mix. */
enum ada_label_kind {
	ADA_LABEL_NONE = 0,
	ADA_LABEL_INT = 1,
	ADA_LABEL_STRING = 2,
	ADA_LABEL_FLOAT = 3,
};

struct ada_data_info {
	int format;             /* enum ada_data_format */
	int shape;              /* enum ada_data_shape */
	int label_kind;         /* enum ada_label_kind */
	int64_t line_count;     /* lines in the buffer, blank ones included */
	int64_t record_count;   /* JSONL objects, or plain-text documents */
};

/* Stable names: "plain_text"/"jsonl"; "text", "prompt_completion", "chat",
 * "classification", "pair_classification"; "none", "int", "string", "float". */
const char *ada_data_format_name(int format);
const char *ada_data_shape_name(int shape);
const char *ada_label_kind_name(int kind);

enum ada_data_flags {
	ADA_DATA_JSONL_ONLY = 1 << 0,   /* refuse plain text (the upload check) */
};

/* Check a training file held in buf[0..len) without a tokenizer: UTF-8,
 * format, and every JSONL line against the shapes above (unknown keys,
 * wrong types, empty strings and mixed shapes are errors). Errors name the
 * 1-based line and the field; a file without records is an error too.
 * info is filled on success. */
int ada_data_validate(const char *buf, size_t len, unsigned flags,
		      struct ada_data_info *info, struct ada_err *err);

#endif
