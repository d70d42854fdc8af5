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

/* ---- fine-tuning methods (the API's "method" object) ------------------- */

enum ada_method_type {
	ADA_METHOD_LORA = 1,
	ADA_METHOD_ADALORA,
	ADA_METHOD_FULL,
	ADA_METHOD_LORA_PRUNE,   /* the paper's ablation: LoRA doublets pruned by the budget */
};

enum ada_importance {
	ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY = 0,   /* s = Ibar * Ubar (default) */
	ADA_IMPORTANCE_SENSITIVITY,                   /* s = Ibar */
	ADA_IMPORTANCE_MAGNITUDE,                     /* S = |lambda| */
};

enum ada_lr_schedule { ADA_LR_LINEAR = 0, ADA_LR_COSINE, ADA_LR_CONSTANT };

/* Bit i is enum llama_module i: q k v o gate up down. */
#define ADA_MODULES_ALL 0x7fu

struct ada_hparams {
	/* optimisation */
	int n_epochs;              /* 0 = "auto" */
	int64_t max_steps;         /* 0 = n_epochs decides */
	int batch_size;            /* sequences per optimizer step */
	int micro_batch_size;      /* sequences per forward/backward; < batch_size accumulates */
	double learning_rate;
	int64_t warmup_steps;
	double weight_decay;
	double max_grad_norm;      /* 0 disables clipping */
	int seq_len;
	enum ada_lr_schedule lr_scheduler;
	double valid_fraction;     /* < 0: the default rule (see data.h) */
	int64_t eval_every;        /* steps between validation passes; 0 = at the end only */
	int64_t log_every;         /* steps between metrics events */
	int64_t checkpoint_every;  /* steps between checkpoints; 0 = none until the end */
	/* adapters (lora, adalora, lora_prune) */
	int r;                     /* LoRA rank */
	double lora_alpha;
	double lora_dropout;
	unsigned target_modules;   /* ADA_MODULES_ALL bits */
	/* budget (adalora, lora_prune) */
	int init_r, target_r;
	int64_t tinit, tfinal, delta_t;
	double beta1, beta2;
	double orth_reg_weight;    /* adalora only */
	enum ada_importance importance;
	int compact_on_freeze;
};

struct ada_method {
	enum ada_method_type type;
	struct ada_hparams hp;
};

const char *ada_method_name(enum ada_method_type t);

/* The defaults of a method (what an empty hyperparameters object means). */
void ada_method_defaults(enum ada_method_type t, struct ada_method *out);

/* Parse and validate the API's "method" object (borrowed). Unknown fields,
 * wrong types and out-of-range values fail with ADA_EINVAL and err->param
 * naming the field, e.g. "method.adalora.hyperparameters.target_r".
 * Checks that need the data (total steps vs tinit + tfinal) or the model
 * (seq_len vs context) happen in ada_job_plan(). */
int ada_method_from_json(const json_t *method, struct ada_method *out, struct ada_err *err);

/* The method with every default filled in, as the API returns it (new reference). */
json_t *ada_method_to_json(const struct ada_method *m);

#endif
