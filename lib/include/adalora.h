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
#include <stdio.h>
#include <jansson.h>

/* Functions of this interface are exported from the shared libadalora;
 * everything else in lib/ is hidden (built with -fvisibility=hidden). */
#if defined(__GNUC__)
#define ADA_API __attribute__((visibility("default")))
#else
#define ADA_API
#endif

/* ---- result codes and errors ------------------------------------------ */

enum ada_code {
	ADA_OK = 0,
	ADA_EINVAL = 1,       /* bad argument or configuration (param says which) */
	ADA_EIO = 2,          /* the file system failed us */
	ADA_EFORMAT = 3,      /* a file is corrupt, truncated or of an unsupported kind */
	ADA_ENOMEM = 4,
	ADA_ECANCELLED = 5,   /* the job was cancelled through its stop flag */
	ADA_ESTOPPED = 6,     /* the job was asked to pause (shutdown); it checkpointed */
	ADA_ENUMERIC = 7,     /* training diverged (non-finite gradients for too long, or at
	                       * every step) */
	ADA_EUNSUPPORTED = 8, /* valid input we do not implement (e.g. a tensor type) */
	ADA_ENOTFOUND = 9,    /* a named file does not exist */
};

struct ada_err {
	int code;
	char param[128];      /* dotted field name for configuration errors, else "" */
	char msg[512];        /* one line, no trailing newline */
};

/* Stable snake_case name of a code ("invalid_argument", "bad_format", ...). */
ADA_API const char *ada_code_name(int code);

/* ---- threads ----------------------------------------------------------- */

/* Threads for lib/'s parallel loops and products started from the calling
 * thread from now on (each daemon worker sets its share of the cores).
 * BLAS itself always runs single-threaded inside lib/'s own threads. */
ADA_API void ada_set_threads(int n);

/* ---- BLAS kernel ------------------------------------------------------- */

/* OpenBLAS's kernel ("Zen", "SkylakeX", ...; "unknown" if the BLAS is not
 * OpenBLAS). */
ADA_API const char *ada_blas_kernel(void);

/* The best OpenBLAS kernel this CPU's features allow ("" if none). */
ADA_API const char *ada_blas_kernel_expected(void);

/* Call first in main(), before any thread starts: when OpenBLAS chose a
 * kernel below what the CPU allows and OPENBLAS_CORETYPE is not set, set
 * it and re-execute the program (argv as given) once. msg receives a line
 * to log ("" if nothing to say): in the re-executed image the kernel
 * selected, or why the restart failed. Returns 0, or -1 when the restart
 * failed (the program runs on with OpenBLAS's kernel). */
ADA_API int ada_blas_kernel_select(char **argv, char *msg, size_t msg_size);

/* ---- models ------------------------------------------------------------ */

/* How a model computes, which decides its adaptable modules and tasks. */
enum ada_family {
	ADA_FAMILY_LLAMA = 1,   /* llama, mistral, qwen2: pre-norm decoder (q k v o gate up down) */
	ADA_FAMILY_BERT = 2,    /* bert, roberta, deberta-v2: post-norm encoder (the paper's six
	                         * matrices) */
	ADA_FAMILY_BART = 3,    /* bart: post-norm encoder-decoder (self-attention, cross-
	                         * attention and FFN matrices of both stacks) */
};

struct ada_model_info {
	char format[16];        /* "gguf", "llama2c", "hf" */
	char architecture[32];  /* "llama", "mistral", "qwen2", "bert", ... */
	enum ada_family family;
	int64_t parameters;
	int context_length;
	int n_layers, dim, hidden_dim, n_heads, n_kv_heads, vocab_size;
	int has_tokenizer;      /* the model carries its own tokenizer */
	char dtype[96];         /* its matrices' types: "F32", "BF16", "Q4_K+Q6_K+F32" (block
	                         * types first; "+" when mixed, as llama.cpp's Q4_K_M) */
	int quantized;          /* some matrix is a block type: full fine-tuning is refused */
	int64_t weight_bytes;   /* bytes of the weight matrices as stored (what a job maps) */
	/* the family of the chat template stored with it ("chatml", "llama3", ...;
	 * README "Chat data"), "unknown" for one we do not render, "" for none */
	char chat_template[16];
	int append_eos;         /* its text framing when append_eos is auto: 1 EOS after
	                         * each text, 0 BOS only (llama2.c's models) */
	int n_decoder_layers;   /* an encoder-decoder (BART): its decoder layers, which
	                         * n_layers counts after the encoder's; 0 otherwise */
};

/* Read a model's header (not its weights) and describe it. path is a GGUF
 * file, a llama2.c .bin or a Hugging Face directory. */
ADA_API int ada_model_probe(const char *path, struct ada_model_info *info, struct ada_err *err);

/* ---- fine-tuning methods (the API's "method" object) ------------------- */

enum ada_method_type {
	ADA_METHOD_LORA = 1,
	ADA_METHOD_ADALORA,
	ADA_METHOD_FULL,
	ADA_METHOD_LORA_PRUNE,   /* the paper's ablation: LoRA doublets pruned by the budget */
	ADA_METHOD_BITFIT,       /* biases (and a classifier's head) train, nothing else */
	ADA_METHOD_ADAPTER,      /* Houlsby bottleneck adapters after attention and the FFN */
};

enum ada_importance {
	ADA_IMPORTANCE_SENSITIVITY_UNCERTAINTY = 0,   /* s = Ibar * Ubar (default) */
	ADA_IMPORTANCE_SENSITIVITY,                   /* s = Ibar */
	ADA_IMPORTANCE_MAGNITUDE,                     /* S = |lambda| */
};

enum ada_lr_schedule { ADA_LR_LINEAR = 0, ADA_LR_COSINE, ADA_LR_CONSTANT };

/* The precision of the training steps' products with the frozen base
 * weights (README "compute_dtype"): f32, or bfloat16 operands with f32 sums
 * (CPUs with AVX512-BF16; decoders); auto (the default of a method): bf16
 * where the CPU has AVX512-BF16 and the model is a decoder, else f32. */
enum ada_compute_dtype { ADA_COMPUTE_FP32 = 0, ADA_COMPUTE_BF16, ADA_COMPUTE_AUTO };

/* Bit i is enum llama_module i: q k v o gate up down. A BERT module takes
 * the bit of the Llama module in its place: query = q, key = k, value = v,
 * attention.output.dense = o, intermediate.dense = up, output.dense = down
 * (gate has no BERT counterpart, so all seven bits mean the paper's six).
 * BART's: self_attn and encoder_attn q/k/v_proj = q/k/v (both at once),
 * out_proj = o, fc1 = up, fc2 = down. */
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
	int gradient_checkpointing;  /* recompute each block's activations in backward
	                              * (decoders; nn/llama.h): memory for compute */
	/* adapters (lora, adalora, lora_prune) */
	int r;                     /* LoRA rank */
	double lora_alpha;
	double lora_dropout;
	unsigned target_modules;   /* ADA_MODULES_ALL bits */
	/* adapter */
	int adapter_size;          /* bottleneck width of the Houlsby adapters */
	/* budget (adalora, lora_prune) */
	int init_r, target_r;
	int64_t tinit, tfinal, delta_t;
	double beta1, beta2;
	double orth_reg_weight;    /* adalora only */
	enum ada_importance importance;
	int compact_on_freeze;
	/* data framing (causal LM; README "Chat data" and "Text framing") */
	char chat_template[24];    /* a template family ("chatml", "llama3", ...); "" = auto:
	                            * the model's own chat template */
	int append_eos;            /* EOS after each text record: 1, 0, or -1 = auto (the
	                            * model's default: llama2.c's models 0, else 1) */
	/* extractive QA (README "Extractive question answering"); seq_len is
	 * run_qa's max_seq_length */
	int doc_stride;            /* overlap of a long context's windows, tokens */
	int max_query_length;      /* question tokens kept */
	int max_answer_length;     /* longest predicted answer, tokens */
	int n_best_size;           /* start and end candidates per window */
	double null_score_diff_threshold;   /* SQuAD v2: predict no answer above it */
	/* sequence to sequence (an encoder-decoder; README "BART") */
	int max_source_length;     /* tokens of a source, its framing included; 0 = auto:
	                            * min(1024, the model's context) */
	int max_target_length;     /* tokens of a target (the labels); 0 = auto: min(128,
	                            * the model's context) */
	double label_smoothing;    /* epsilon of the label-smoothed loss (transformers'
	                            * label_smoothing_factor); 0 = plain cross-entropy */
	enum ada_compute_dtype compute_dtype;   /* frozen products: "auto" (default), "fp32"
	                            * or "bf16" (refused where the CPU lacks AVX512-BF16) */
	/* seq2seq validation by generation (README "BART"): the first
	 * valid_generate_examples validation sources are decoded and scored with
	 * ROUGE at every validation (-1: all, 0: none); the search is the
	 * model's generation config with Seq2SeqTrainingArguments' overrides */
	int64_t valid_generate_examples;
	int generation_num_beams;  /* 0 = auto: the model's num_beams */
	int generation_max_length; /* counts the decoder start token, as HF's max_length;
	                            * 0 = auto: max_target_length (run_summarization's) */
};

struct ada_method {
	enum ada_method_type type;
	struct ada_hparams hp;
};

/* Stable names, as the API writes them: "lora", "adalora", ...;
 * "sensitivity_uncertainty", "sensitivity", "magnitude"; "linear", "cosine",
 * "constant". */
ADA_API const char *ada_method_name(enum ada_method_type t);
ADA_API const char *ada_importance_name(enum ada_importance imp);
ADA_API const char *ada_lr_schedule_name(enum ada_lr_schedule s);
/* "fp32", "bf16", "auto". */
ADA_API const char *ada_compute_dtype_name(enum ada_compute_dtype d);
/* What a job's compute_dtype means on this machine for a model of family:
 * ADA_COMPUTE_FP32 or ADA_COMPUTE_BF16 (auto: bf16 for a decoder where the
 * CPU has AVX512-BF16). */
ADA_API enum ada_compute_dtype ada_compute_dtype_resolve(enum ada_compute_dtype d,
							 enum ada_family family);
/* 1 when this machine runs compute_dtype "bf16" (AVX512-BF16, enabled by the OS). */
ADA_API int ada_bf16_supported(void);

/* Whether a method has a budget schedule (adalora, lora_prune). */
ADA_API int ada_method_has_budget(enum ada_method_type t);

/* The chat template families a chat_template hyperparameter may name
 * (README "Chat data"), comma-separated: "chatml, llama3, ...". */
ADA_API const char *ada_chat_templates(void);

/* The defaults of a method (what an empty hyperparameters object means). */
ADA_API void ada_method_defaults(enum ada_method_type t, struct ada_method *out);

/* Parse and validate the API's "method" object (borrowed). Unknown fields,
 * wrong types and out-of-range values fail with ADA_EINVAL and err->param
 * naming the field, e.g. "method.adalora.hyperparameters.target_r".
 * Checks that need the data (total steps vs tinit + tfinal) or the model
 * (seq_len vs context) happen in ada_job_plan(). */
ADA_API int ada_method_from_json(const json_t *method, struct ada_method *out, struct ada_err *err);

/* The method with every default filled in, as the API returns it (new reference). */
ADA_API json_t *ada_method_to_json(const struct ada_method *m);

/* A target_modules array (borrowed) as ADA_MODULES_ALL bits; errors name
 * param, or param[i] for a bad element. */
ADA_API int ada_modules_from_json(const json_t *v, const char *param, unsigned *mask,
				  struct ada_err *err);

/* Adapted matrices of a model: its layers times the modules of
 * target_modules its family has (BERT has no gate; a BART encoder layer no
 * cross-attention). */
ADA_API int64_t ada_model_matrices(const struct ada_model_info *info, unsigned target_modules);

/* The checks of a method that need a model's header, not its weights or
 * data: seq_len against the context length, and with max_steps set the
 * budget schedule (ada_method_budget); full fine-tuning of a quantized
 * model (info->quantized) is refused, param "method.type". */
ADA_API int ada_method_check_model(const struct ada_method *m, const struct ada_model_info *info,
				   struct ada_err *err);

/* Whether a step of m can be shared by `processes` processes of a
 * data-parallel job (struct ada_parallel): each takes whole micro-batches,
 * so a step needs at least that many (batch_size / micro_batch_size).
 * ADA_EINVAL otherwise, param "method.<type>.hyperparameters.micro_batch_size"
 * and the largest micro_batch_size that fits in the message. */
ADA_API int ada_method_check_processes(const struct ada_method *m, int processes,
				       struct ada_err *err);

/* ---- training jobs ------------------------------------------------------ */

/* What a job trains. AUTO decides from the model and the training file: a
 * BERT-family model, a GLUE TSV file (data format glue-tsv, or a name
 * ending in .tsv) or JSONL of {"text","label"} / {"text_a","text_b",
 * "label"} lines make a classification job, anything else a causal LM. */
enum ada_task {
	ADA_TASK_AUTO = 0,
	ADA_TASK_CAUSAL_LM,
	ADA_TASK_CLASSIFICATION,     /* classification, or regression (float labels) */
	ADA_TASK_QUESTION_ANSWERING, /* extractive QA (SQuAD): start/end logits over the
	                              * context; never chosen by AUTO unless the data is QA */
	ADA_TASK_SEQ2SEQ,            /* sequence to sequence (an encoder-decoder: BART) on
	                              * {"source","target"} lines */
};

/* How the training and validation files are read. */
enum ada_file_format {
	ADA_FILE_AUTO = 0,           /* GLUE TSV when the name ends in .tsv, else JSONL / text */
	ADA_FILE_JSONL,              /* JSONL (causal LM: plain text too, told by content) */
	ADA_FILE_GLUE_TSV,           /* GLUE TSV with its header row (classification only) */
};

/* Stable names: "auto", "causal_lm", "classification", "question_answering",
 * "seq2seq"; "auto", "jsonl", "glue-tsv". The *_from_name functions return -1 for an
 * unknown name. */
ADA_API const char *ada_task_name(enum ada_task t);
ADA_API int ada_task_from_name(const char *name);
ADA_API const char *ada_file_format_name(enum ada_file_format f);
ADA_API int ada_file_format_from_name(const char *name);

/* GLUE's metrics of a classifier's evaluation (README, "Classification"):
 * accuracy, f1 (of class 1; two classes) and mcc for classes, pearson and
 * spearman for a regression. NAN where one does not apply or is undefined
 * (MCC of a constant prediction). */
struct ada_glue_metrics {
	double accuracy, f1, mcc, pearson, spearman;
};

/* Set the metrics of m into obj (borrowed) under key_prefix + name
 * ("valid_" gives "valid_accuracy", ...). With num_labels > 0 (1: a
 * regression) the metrics that apply to such a head, undefined ones as
 * null; with num_labels 0 the defined ones only. */
ADA_API void ada_glue_metrics_json(json_t *obj, const struct ada_glue_metrics *m, int num_labels,
				   const char *key_prefix);

/* The official SQuAD metrics of an extractive QA evaluation (README,
 * "Extractive question answering"): exact match and F1 in percent over all
 * questions, and for SQuAD v2 data over those with an answer (HasAns) and
 * without (NoAns). NAN where a split is empty or nothing was evaluated. */
struct ada_qa_metrics {
	double exact, f1;
	double has_ans_exact, has_ans_f1, no_ans_exact, no_ans_f1;
	int64_t total, has_ans_total, no_ans_total;
};

/* Set m into obj (borrowed) under key_prefix + "exact", "f1" and, when
 * both splits are present, "HasAns_exact", "HasAns_f1", "NoAns_exact",
 * "NoAns_f1" (the official script's names), "HasAns_total", "NoAns_total";
 * "total". Undefined values are left out. */
ADA_API void ada_qa_metrics_json(json_t *obj, const struct ada_qa_metrics *m,
				 const char *key_prefix);

/* An extractive QA model's answer to one question over its context (README
 * "Serving": POST /v1/question_answering; `adalora eval --predictions`). */
struct ada_qa_span {
	char *text;                 /* owned: the context's own characters */
	int64_t start, end;         /* [start, end) in characters (code points) of the
	                             * context, as SQuAD's answer_start counts */
	double score;               /* start logit + end logit (utils_qa's score) */
	double probability;         /* softmax over the n-best scores (and the null
	                             * score under SQuAD v2 rules), as utils_qa's */
};

struct ada_qa_answer {
	int is_impossible;          /* no answer: the null won (SQuAD v2) or no span fits */
	int version_2;              /* SQuAD v2 rules: the null answer competes */
	double null_score;          /* the lowest start[0] + end[0] over the windows */
	double null_probability;    /* v2: the null's share of the softmax; else NAN */
	int n_spans;                /* at most the top_k asked */
	struct ada_qa_span *spans;  /* owned [n_spans], best first; the answer is
	                             * spans[0] unless is_impossible */
	int windows;                /* windows the context was cut into */
	int64_t tokens;             /* tokens the network read (every window) */
	int truncated;              /* the question was cut to max_query_length */
};

ADA_API void ada_qa_answer_release(struct ada_qa_answer *a);
/* {"answer", "start", "end", "score", "probability", "is_impossible",
 * "null_score" and "null_probability" (v2 only), "answers": [{"answer",
 * "start", "end", "score", "probability"}, ...], "windows", "truncated"}:
 * a new object. No answer: "answer" "", start and end 0, the null's score
 * and probability (null when not v2). */
ADA_API json_t *ada_qa_answer_to_json(const struct ada_qa_answer *a);

/* One ROUGE type's scores, fractions in [0, 1]. */
struct ada_rouge_score {
	double precision, recall, fmeasure;
};

/* ROUGE-1, ROUGE-2, ROUGE-L and ROUGE-Lsum as Google's rouge-score package
 * computes them per pair (README, "ROUGE"), averaged over n pairs. */
struct ada_rouge {
	struct ada_rouge_score rouge1, rouge2, rougeL, rougeLsum;
	int64_t n;                  /* pairs averaged */
	int use_stemmer;
};

/* Progress at a log interval (and at evaluations and the end). */
struct ada_metrics {
	int64_t step;               /* optimizer steps completed */
	int64_t total_steps;
	double epoch;               /* fractional epochs completed */
	double train_loss;          /* token-mean loss over the interval (NAN if none) */
	double valid_loss;          /* latest evaluation (NAN until there is one) */
	double valid_loss_no_framing;   /* a causal LM's, without the framing tokens (the
	                                 * EOS, or BOS, that ends each text record); NAN
	                                 * for a classifier or without evaluation */
	double learning_rate;       /* of the last step */
	double grad_norm;           /* before clipping, last step */
	double orth_reg;            /* AdaLoRA's R (unweighted), last step; 0 otherwise */
	int64_t budget;             /* b(t) of the last step; -1 without a budget */
	double tokens_per_second;   /* over the interval */
	int64_t trained_tokens;     /* tokens processed so far */
	double eta_seconds;
	double elapsed_seconds;
	/* classification: the latest evaluation's (all NAN before the first) */
	struct ada_glue_metrics glue;
	/* question answering: the latest evaluation's (NAN before the first) */
	struct ada_qa_metrics qa;
	/* sequence to sequence: ROUGE of the latest evaluation's decodes (n 0 and
	 * NAN before the first, or when validation does not generate) */
	struct ada_rouge rouge;
};

/* The rank allocation at a mask (and the frozen one at the end). */
struct ada_ranks {
	int64_t step;
	int64_t budget;             /* b(t) */
	int64_t kept;               /* triplets kept (may be below b(t) after ties) */
	int64_t initial, target;    /* b(0), b(T) */
	int init_r;
	int n_layers;
	int n_modules;              /* columns: the family's modules in order (7 Llama, 6 BERT,
	                             * 10 BART) */
	const char *const *module_names;   /* [n_modules] their API names (borrowed) */
	const int *ranks;           /* [n_layers][n_modules]; -1 where not adapted */
	int final;                  /* the frozen allocation */
	/* an encoder-decoder's (BART) stacks; NULL for other models:
	 * layer_groups[n_layers]: "encoder" or "decoder" (rows are the encoder's
	 * layers, then the decoder's), module_groups[n_modules]: "self_attn",
	 * "encoder_attn" (the decoder's cross-attention) or "ffn" (borrowed) */
	const char *const *layer_groups;
	const char *const *module_groups;
};

/* Callbacks run on the training thread; any may be NULL. */
struct ada_callbacks {
	void *ctx;
	void (*on_metrics)(void *ctx, const struct ada_metrics *m);
	void (*on_eval)(void *ctx, const struct ada_metrics *m);
	void (*on_ranks)(void *ctx, const struct ada_ranks *r);
	void (*on_checkpoint)(void *ctx, int64_t step, const char *dir, const struct ada_metrics *m);
	void (*on_log)(void *ctx, const char *level, const char *msg);
};

/* Values of the stop flag, read at step boundaries. */
enum ada_stop {
	ADA_RUN = 0,
	ADA_STOP_CANCEL = 1,        /* checkpoint, then return ADA_ECANCELLED */
	ADA_STOP_PAUSE = 2,         /* checkpoint, then return ADA_ESTOPPED (resume later) */
};

/* One job run by several processes at once, data-parallel (README "One job
 * across processes"): every process is given the same ada_job (model, data,
 * seed, method) and its own ada_parallel. Each optimizer step's micro-batches,
 * numbered as a one-process run numbers them (so dropout is the same), are
 * split into `size` contiguous runs and process `rank` computes run `rank`;
 * then allreduce sums the gradient arena (and a few counters) over the
 * processes, before the orthogonality penalty, clipping, AdamW and the rank
 * allocator, so every process applies the same update and keeps the same
 * weights, importance scores and masks. lib/ knows no transport: the caller
 * provides allreduce (the CLI's is MPI_Allreduce). Checkpoints on resume are
 * read by every process from out_dir. */
struct ada_parallel {
	int rank, size;             /* 0 <= rank < size */
	int writer;                 /* this process validates, writes checkpoints and outputs
	                             * and calls the callbacks; exactly one process of a job
	                             * must be the writer, the others write nothing */
	void *ctx;
	/* Sum grads[0..n_grads) and stats[0..n_stats) element-wise over every process, in
	 * place, each process receiving the same sums (MPI_Allreduce, MPI_SUM). Called
	 * once per optimizer step by every process, at the same step. ADA_OK, or an
	 * error in err (the job fails). */
	int (*allreduce)(void *ctx, float *grads, size_t n_grads, double *stats, size_t n_stats,
			 struct ada_err *err);
};

struct ada_job {
	const char *model;          /* GGUF file, llama2.c .bin or Hugging Face directory */
	const char *model_name;     /* what outputs and messages call the model (the adapter's
	                             * base_model_name_or_path, result.json); NULL: model */
	const char *tokenizer;      /* NULL: the model's own */
	const char *train_file;
	const char *valid_file;     /* NULL: hold out the tail of train_file */
	const char *out_dir;        /* adapter/, checkpoint/, result.json go here */
	enum ada_task task;         /* ADA_TASK_AUTO (0) decides from the data */
	enum ada_file_format data_format;   /* of train_file and valid_file */
	uint64_t seed;
	struct ada_method method;
	int resume;                 /* continue from out_dir/checkpoint when present */
	int threads;                /* 0: ada_set_threads' value */
	const struct ada_callbacks *cb;
	const _Atomic int *stop;    /* enum ada_stop, set from any thread; NULL = never */
	/* NULL: one process. Else this process's part in a data-parallel job; a stop
	 * raised in any process stops all of them at the same step boundary (the sums
	 * of the next step that process starts carry it), the writer checkpointing. */
	const struct ada_parallel *parallel;
};

/* What a job amounts to, known before it runs (ada_job_plan) or after. */
struct ada_plan {
	int task;                   /* enum ada_task, resolved (never AUTO) */
	int64_t total_steps;
	int64_t steps_per_epoch;
	int64_t n_epochs;
	int64_t train_windows, valid_windows;   /* classification: examples */
	int64_t train_tokens;       /* target tokens per epoch (classification: real tokens) */
	int num_labels;             /* classification: outputs (1 for regression); else 0 */
	int64_t n_matrices;         /* adapted matrices */
	int64_t trainable_params;
	int64_t budget_initial, budget_target;   /* -1 without a budget */
	int64_t memory_bytes;       /* estimated peak memory of training (ada_memory_estimate,
	                             * with the data) */
};

struct ada_result {
	struct ada_plan plan;
	int64_t steps;              /* completed */
	double train_loss;          /* last logged */
	double valid_loss;          /* final evaluation (NAN without validation data) */
	double valid_loss_initial;  /* before training */
	double valid_loss_no_framing, valid_loss_no_framing_initial;   /* the same without
	                                                                * framing tokens (LM) */
	int64_t trained_tokens;
	double seconds;
	char adapter_dir[4096];     /* where the result was written */
	/* classification: the final evaluation */
	struct ada_glue_metrics glue;
	/* question answering: the final evaluation */
	struct ada_qa_metrics qa;
	/* sequence to sequence: ROUGE of the final evaluation's decodes, and of
	 * the one before training (n 0 and NAN without generation) */
	struct ada_rouge rouge, rouge_initial;
	int num_labels;             /* outputs of the head (1: regression); 0 for an LM */
	int label_kind;             /* enum ada_label_kind */
	char **label_names;         /* [num_labels] string labels by class id, owned
	                             * (ada_result_release); NULL unless labels are strings */
	int64_t truncated_train, truncated_valid;   /* examples cut to seq_len (a chat LM:
	                                             * conversations cut to a window) */
};

/* What training a job holds at its peak, in bytes: the frozen weights as
 * loaded (f32), one micro-batch's activations (the LM head's logits among
 * them), the trainable values with their gradients and AdamW moments, the
 * method's extras (adapter caches, AdaLoRA's importance buffers,
 * bottlenecks), the tokenized data, and a fixed runtime share. README
 * ("Memory") compares it with measured peak RSS. */
struct ada_memory {
	int64_t weights, activations, trainable, method, data, runtime;
	int64_t total;
};

/* The estimate for training method m on a model of info's shape, before
 * loading anything (creation time). task: ADA_TASK_CAUSAL_LM or
 * ADA_TASK_CLASSIFICATION (ADA_TASK_AUTO: a BERT-family model classifies,
 * others model language); num_labels: a classifier's outputs (0: 2);
 * threads: the job's (0: ada_set_threads'); windows: training plus
 * validation windows (LM) or examples (classification), 0 when not known
 * (the data is then not counted; ada_job_plan counts it). The batch is
 * micro_batch_size sequences of seq_len. */
ADA_API int ada_memory_estimate(const struct ada_model_info *info, const struct ada_method *m,
				int task, int num_labels, int threads, int64_t windows,
				struct ada_memory *out);

/* Whether that estimate fits in limit bytes (0: no limit): ADA_OK, or
 * ADA_EINVAL with err->param naming what to lower and the numbers in the
 * message — method.<type>.hyperparameters.batch_size (micro_batch_size
 * when the job accumulates gradients) or seq_len, whichever halved saves
 * more; "model" (or "method.type" for full fine-tuning) when even the
 * weights and the trained state do not fit. out (may be NULL) receives
 * the estimate. */
ADA_API int ada_memory_check(const struct ada_model_info *info, const struct ada_method *m,
			     int task, int num_labels, int threads, int64_t windows, int64_t limit,
			     struct ada_memory *out, struct ada_err *err);

/* Free what a result owns (label_names); safe on a zeroed result. */
ADA_API void ada_result_release(struct ada_result *res);

/* Load the model, tokenizer and data of a job and compute its plan, running
 * every check that needs them (seq_len vs the model's context, the budget
 * schedule vs the total steps, tokenizer vs model vocabulary, empty data).
 * Cheap next to training; the daemon calls it before queueing a job. */
ADA_API int ada_job_plan(const struct ada_job *job, struct ada_plan *plan, struct ada_err *err);

/* Run a job to the end (or until stopped). Writes out_dir/adapter (PEFT
 * layout; model.gguf for full fine-tuning), out_dir/checkpoint and
 * out_dir/result.json. Returns ADA_OK, ADA_ECANCELLED or ADA_ESTOPPED after
 * a stop request (a checkpoint was written), or an error. res may be NULL. */
ADA_API int ada_train(const struct ada_job *job, struct ada_result *res, struct ada_err *err);

/* ---- progress as JSON lines (a job run in another process) -------------- */

/* A job run by another program (the daemon launching `adalora train
 * --progress-json` under mpirun) reports on its standard output, one JSON
 * object per line: each callback as an event, then one "end" line with
 * ada_train's code, error and result. Values arrive bit for bit (doubles as
 * 17-digit reals; NaN as null, read back as NaN). */

/* Callbacks that write each event as one line to out (flushed); cb->ctx is
 * out, which must outlive the job. */
ADA_API void ada_progress_callbacks(FILE *out, struct ada_callbacks *cb);

/* The end line: how ada_train returned (rc, err when rc != 0) and its
 * result (borrowed). ADA_OK, or ADA_EIO when out failed. */
ADA_API int ada_progress_end(FILE *out, int rc, const struct ada_result *res,
			     const struct ada_err *err);

/* What an end line carried. Zero it before the first line; release res with
 * ada_result_release. */
struct ada_progress_end {
	int ended;                  /* an end line was read */
	int rc;                     /* ada_train's code */
	struct ada_err err;         /* its error when rc != 0 */
	struct ada_result res;
};

/* Read one line (len bytes, a trailing newline allowed) and call the
 * matching callback of cb (may be NULL, as may any callback); an end line
 * fills *end (may be NULL). ADA_EFORMAT for a line that is not ours (the
 * caller may show it as text), ADA_ENOMEM. */
ADA_API int ada_progress_line(const char *line, size_t len, const struct ada_callbacks *cb,
			      struct ada_progress_end *end, struct ada_err *err);

/* ---- the AdaLoRA budget schedule (adalora.md section 4) ----------------- */

/* b(t) over a run; field names as the API's (POST /v1/adalora/schedule). */
struct ada_schedule {
	int64_t total_steps;    /* T: optimizer steps of the whole run */
	int64_t tinit;          /* ti: steps before the first mask */
	int64_t tfinal;         /* tf: steps trained with the final mask */
	int64_t deltaT;         /* mask every deltaT steps in between */
	int64_t init_r;         /* rank of every matrix at the start */
	int64_t target_r;       /* average rank at the end */
	int64_t n_matrices;     /* adapted matrices n */
};

/* Refuse what the spec forbids (a negative field, init_r or n_matrices or
 * deltaT below 1, target_r > init_r, T <= tinit + tfinal, sizes beyond what
 * the allocator holds): ADA_EINVAL with param the field's name above,
 * prefixed by param_prefix when non-NULL. */
ADA_API int ada_schedule_check(const struct ada_schedule *s, const char *param_prefix,
			       struct ada_err *err);

/* The schedule of a budget method over total_steps on n_matrices adapted
 * matrices into *out, checked, with errors named as a client wrote the job:
 * "method.<type>.hyperparameters.<field>", where a total at or below tinit +
 * tfinal blames tfinal (the total follows from the data) and no adapted
 * matrix blames target_modules. A method without a budget gives a zeroed
 * *out and ADA_OK. */
ADA_API int ada_method_budget(const struct ada_method *m, int64_t total_steps, int64_t n_matrices,
			      struct ada_schedule *out, struct ada_err *err);

/* The curve of a schedule (checked first, like ada_schedule_check without a
 * prefix) as a new JSON object:
 *   {"initial","target","freeze_step","points":[[t,b],...] (at most
 *    max_points, >= 8), "mask_steps":[...] (at most max_mask_steps, >= 2,
 *    evenly thinned), "n_mask_steps"} */
ADA_API int ada_schedule_json(const struct ada_schedule *s, size_t max_points,
			      size_t max_mask_steps, json_t **out, struct ada_err *err);

/* The budget at the n given steps (each >= 0), in that order, as a new JSON
 * object {"initial","target","points":[[t,b],...]}. */
ADA_API int ada_schedule_at_json(const struct ada_schedule *s, const int64_t *steps, size_t n,
				 json_t **out, struct ada_err *err);

/* Create a small Llama model with random weights and a byte-level
 * tokenizer (260 tokens: <unk>, <s>, </s>, <0x00>..<0xFF>, "\u2581") as a GGUF file:
 * a model that needs nothing from outside the project (the demo, tests).
 * shape: "tiny" (dim 64, 2 layers) or a llama2.c family name (the real
 * shapes, with their vocabulary sizes: ada_create_model_opts below). */
ADA_API int ada_create_model(const char *shape, uint64_t seed, const char *path, struct ada_err *err);
/* The same with its matrices stored as dtype: "F32", "F16", "BF16", "Q8_0",
 * "Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K"
 * (case-insensitive); a matrix whose rows are not whole blocks of a block
 * type takes llama.cpp's fallback type (ADA_EINVAL, param "dtype", for an
 * unknown name). */
ADA_API int ada_create_model_dtype(const char *shape, uint64_t seed, const char *dtype,
				   const char *path, struct ada_err *err);

/* ada_create_model with every option. The real shapes ("smollm-135m",
 * "qwen2.5-0.5b", "tinyllama-1.1b", "llama-2-7b") have their model's
 * vocabulary size (the byte tokens padded with unused ones), architecture
 * (qwen2: q/k/v biases) and tied or untied output; the file is generated
 * while it is written, in a few MiB of memory at any size. */
struct ada_create_opts {
	const char *shape;          /* NULL: "tiny" */
	const char *dtype;          /* NULL: "F32"; a type as above, or llama.cpp's
	                             * mixtures "Q4_K_M", "Q5_K_M" */
	uint64_t seed;
	const char *chat_template;  /* NULL, "none" or "chatml": <|im_start|>, <|im_end|>
	                             * and Qwen2's ChatML template in the file */
};
ADA_API int ada_create_model_opts(const struct ada_create_opts *o, const char *path,
				  struct ada_err *err);

/* Rewrite the GGUF model in_path as out_path with every matrix (2-D
 * tensor) stored as dtype (names as above; rows that are not whole blocks
 * take the fallback type); vectors and metadata are copied as they are.
 * Quantizing is ours (format/quant.h: every element within half a step of
 * its block's grid). The output is written atomically. */
ADA_API int ada_quantize(const char *in_path, const char *out_path, const char *dtype,
			 struct ada_err *err);

/* ---- inference -------------------------------------------------------- */

struct ada_infer_opts {
	const char *model;          /* GGUF, llama2.c .bin or Hugging Face directory */
	const char *tokenizer;      /* NULL: the model's own */
	const char *adapter;        /* NULL, or an adapter directory a job wrote (PEFT LoRA or
	                             * AdaLoRA, or ours: BITFIT, BOTTLENECK, FULL) */
};

struct ada_generate_opts {
	struct ada_infer_opts in;
	const char *prompt;         /* NULL or "": start from BOS alone */
	int n_tokens;               /* positions to run, prompt included (llama2.c's steps);
	                             * an encoder-decoder: new tokens at most, 0 = the
	                             * max_length of its generation settings */
	double temperature;         /* 0: greedy */
	double top_p;               /* nucleus; 1 = off */
	uint64_t seed;
	/* a chat instead of prompt: a JSON array of {"role", "content"} messages
	 * (text), rendered with the model's chat template and its generation
	 * prompt (ada_served_chat); generation then also stops at the
	 * template's end-of-turn token. NULL: prompt. */
	const char *messages;
	/* an encoder-decoder (BART): NULL, or a JSON object of Hugging Face
	 * generation keys (num_beams, max_length, min_length, length_penalty,
	 * no_repeat_ngram_size, early_stopping, ...) over the model's
	 * config.json / generation_config.json; n_tokens > 0 is max_new_tokens
	 * (it wins over max_length), 0 leaves max_length to those. */
	const char *generation;
};

/* Generate text; emit(ctx, bytes, n) receives each piece as it is decoded.
 * Stops early at BOS or EOS. Runs the serving decoder (ada_decode_step)
 * on one sequence, so a served greedy completion is the same text. */
ADA_API int ada_generate(const struct ada_generate_opts *o,
		 void (*emit)(void *ctx, const char *s, size_t n), void *ctx, struct ada_err *err);

/* Fold the adapter of o into its base model and write the whole model:
 * format "gguf" (out is a file) or "hf" (out is a directory). */
ADA_API int ada_export_merged(const struct ada_infer_opts *o, const char *out, const char *format,
		      struct ada_err *err);
/* The same with the model's matrices written as dtype: "F32", "F16" or
 * "BF16"; NULL: F32, or F16 when the base has quantized matrices (a merged
 * model is never re-quantized). ADA_EINVAL, param "dtype", for another. */
ADA_API int ada_export_merged_dtype(const struct ada_infer_opts *o, const char *out,
				    const char *format, const char *dtype, struct ada_err *err);

/* How a language model's data file is framed into tokens outside a job
 * (ada_eval, ada_render): the hyperparameters of the same names. */
struct ada_framing {
	const char *chat_template;  /* a family name; NULL or "auto": the model's own */
	int append_eos;             /* 1, 0, or -1: the model's default */
};

struct ada_eval_result {
	int classification;         /* the adapter carries a classifier head */
	/* language models */
	int64_t tokens;             /* predicted tokens */
	double mean_nll;            /* natural log */
	double perplexity;
	/* the same over the tokens that are not framing tokens (the EOS, or with
	 * BOS-only framing the BOS, that ends each text record: what a model's
	 * published loss may or may not count) */
	int64_t framing_tokens;     /* targets left out */
	double mean_nll_no_framing;
	double perplexity_no_framing;
	int append_eos;             /* the framing used */
	char chat_template[16];     /* chat data: the template family used; else "" */
	/* classifiers */
	int64_t examples;
	double loss;                /* mean cross-entropy (regression: mean squared error) */
	struct ada_glue_metrics glue;
	int num_labels;             /* 1: regression */
	/* extractive QA (an adapter written by a question_answering job): examples
	 * are the questions, loss the mean span loss over their windows */
	int question_answering;
	int64_t features;           /* windows the questions' contexts were cut into */
	struct ada_qa_metrics qa;
	int64_t truncated;          /* examples cut to seq_len (seq2seq: sources or targets cut) */
	/* sequence to sequence (an encoder-decoder: BART; examples and loss above) */
	int seq2seq;
	int64_t target_tokens;      /* the loss's tokens (the framed targets) */
	double token_accuracy;      /* teacher-forced: argmax = label, over target tokens */
	int64_t generated;          /* examples decoded, 0 without generation */
	double exact_match;         /* share of those whose decoded text is the target's */
	struct ada_rouge rouge;     /* of those decodes against the targets (NAN without) */
	int num_beams, max_length;  /* the search that decoded them */
};

/* How a seq2seq evaluation reads and decodes (ada_eval_seq2seq). */
struct ada_s2s_eval_opts {
	int max_source_length, max_target_length;   /* 0: auto, as training (README "BART") */
	int generate;               /* also decode every source and score the text */
	const char *predictions;    /* NULL, or a file that gets one JSON line per example:
	                             * {"line", "prediction", "target"} */
	/* NULL, or a JSON object of Hugging Face generation keys (num_beams,
	 * max_length, max_new_tokens, min_length, length_penalty,
	 * no_repeat_ngram_size, early_stopping) over the model's generation
	 * config; max_length is max_target_length unless given (as
	 * run_summarization decodes). Errors name the key (param). */
	const char *generation;
	int rouge_no_stemmer;       /* ROUGE without the Porter stemmer (default: with it,
	                             * run_summarization's use_stemmer=True) */
};

/* Held-out loss of a model (with its adapter) on a data file read as fmt.
 * Language models: windows of seq_len tokens (0: the model's context,
 * capped at 1024), framed as framing says (NULL: the model's defaults), as
 * training reads them. Classifiers (an adapter with a head, written by a
 * classification job): every example, truncated to seq_len (0: the
 * training job's, from the adapter), scored with the GLUE metrics. */
ADA_API int ada_eval(const struct ada_infer_opts *in, const char *data_file, enum ada_file_format fmt,
	     int seq_len, const struct ada_framing *framing, struct ada_eval_result *res,
	     struct ada_err *err);

/* A seq2seq model (BART, with a seq2seq job's adapter or none) on a file of
 * {"source","target"} lines, read and cut as training reads them: the
 * teacher-forced mean NLL of the targets (loss) and token accuracy, and
 * with o->generate every source decoded (greedy or beam search, the
 * model's generation settings under o->generation) and scored with ROUGE
 * and exact match, by the code a seq2seq job's validation runs (README
 * "BART"). ada_eval() runs this with the defaults (generation on) for a
 * BART model, its seq_len standing for max_source_length. */
ADA_API int ada_eval_seq2seq(const struct ada_infer_opts *in, const char *data_file,
			     const struct ada_s2s_eval_opts *o, struct ada_eval_result *res,
			     struct ada_err *err);

/* ada_eval() of an extractive QA model (an adapter a question_answering job
 * wrote) that also writes each question's prediction to predictions (NULL:
 * none) as one JSON line: {"id", and ada_qa_answer_to_json()'s keys but
 * "truncated", the best span alone in "answers"} — the answer POST
 * /v1/question_answering gives for
 * the same question and context. A model without a QA head: ADA_EINVAL,
 * param "predictions". */
ADA_API int ada_eval_qa(const struct ada_infer_opts *in, const char *data_file, int seq_len,
			const char *predictions, struct ada_eval_result *res, struct ada_err *err);

/* What training makes of a language model's data file, example by example:
 * for each of the first limit records (0: all), emit(ctx, obj) receives a
 * new JSON object (borrowed for the call) {"line", "text" (the rendered
 * string, special tokens written out), "tokens": [ids], "mask": [0|1 per
 * token: 1 when the token is a loss target], "framing": [indices of the
 * targets that are framing tokens]}, plus "chat_template" for chat data.
 * The tokens are those of the record alone, before packing into windows. */
ADA_API int ada_render(const char *model, const char *tokenizer, const char *data_file, int limit,
		       const struct ada_framing *framing,
		       void (*emit)(void *ctx, const json_t *obj), void *ctx, struct ada_err *err);

/* ---- benchmarks -------------------------------------------------------- */

struct ada_bench_opts {
	const char *model;          /* a model file, or NULL with shape */
	const char *shape;          /* "stories260K", "stories15M", ... (random weights);
	                             * with model: the shape the file must have */
	enum ada_method_type method;
	int batch, seq, steps, warmup, threads;
	int rank;                   /* LoRA r / AdaLoRA init_r; 0: the peer's (8 / 12) */
	int gradient_checkpointing; /* the hyperparameter of that name */
	/* NULL, or this process's part in a data-parallel bench (struct ada_parallel):
	 * the batch is split into one micro-batch per process, and every step sums
	 * the gradients through its allreduce */
	const struct ada_parallel *parallel;
	/* an encoder-decoder (shape "bart-base", "bart-large", or a BART
	 * directory): seq is the source length, target_seq the target's (0: 64);
	 * gen_tokens tokens decoded per generation run (0: target_seq), by
	 * greedy search or beam search of num_beams */
	int target_seq;
	int gen_tokens;
	const char *dtype;          /* with shape alone: the random base stored as this type
	                             * (ada_create_model_opts' names; a file generated in
	                             * $TMPDIR, mapped, removed); NULL or "F32": in memory */
	enum ada_compute_dtype compute_dtype;   /* the hyperparameter of that name */
	int num_beams;              /* hypotheses of the generation runs (0: 1, greedy) */
};

struct ada_bench_result {
	char config[4096];          /* the shape, or the model path as given */
	int64_t trainable_params;
	double ms_per_step_median;
	double tokens_per_s;
	double gflops_per_s;        /* counted FLOPs of the step / median time */
	double flops_per_step;
	double peak_rss_mb;
	double final_loss;
	int threads;
	int64_t activation_bytes;   /* the activation arena of one micro-batch */
	/* an encoder-decoder's generation (one source of seq tokens, gen_tokens
	 * decoded by the search of num_beams with EOS ignored, the median of up
	 * to 3 runs): output tokens/s through the KV cache, and without it
	 * (every step runs the decoder over each hypothesis's whole prefix, as
	 * transformers with use_cache=False); 0 for other models */
	int gen_tokens;
	double gen_tokens_per_s_cached, gen_tokens_per_s_uncached;
	char dtype[96];             /* the base's matrix types, as ada_model_info's */
	char compute_dtype[8];      /* what the steps ran: "fp32" or "bf16" (auto resolved) */
	int num_beams;
};

/* Time `steps` training steps after `warmup` untimed ones on random tokens,
 * with the PyTorch peer's settings (../shared/bench/torch_reference.py). */
ADA_API int ada_bench(const struct ada_bench_opts *o, struct ada_bench_result *res, struct ada_err *err);

/* ---- training data ----------------------------------------------------- */

/* A training file is UTF-8, either JSONL (every non-blank line one JSON
 * object; told by its first non-blank line parsing as an object) or plain
 * text (documents separated by blank lines). All records of a file have
 * one shape. */
enum ada_data_format {
	ADA_DATA_PLAIN_TEXT = 1,
	ADA_DATA_JSONL = 2,
	ADA_DATA_SQUAD = 3,              /* one SQuAD JSON document {"data": [{"paragraphs":
	                                  * [{"context", "qas": [...]}]}]} (v1.1, v2.0) */
};

enum ada_data_shape {
	ADA_SHAPE_TEXT = 1,              /* {"text"} or a plain-text document */
	ADA_SHAPE_PROMPT_COMPLETION = 2, /* {"prompt", "completion"} */
	ADA_SHAPE_CHAT = 3,              /* {"messages": [{"role", "content"}, ...]}: roles
	                                  * system, user, assistant (with "weight": 0 or
	                                  * 1); the tool-calling fields of OpenAI's format
	                                  * are checked, and recorded in tool_line */
	ADA_SHAPE_CLASSIFY = 4,          /* {"text", "label"} */
	ADA_SHAPE_CLASSIFY_PAIR = 5,     /* {"text_a", "text_b", "label"} */
	ADA_SHAPE_QA = 6,                /* {"question", "context", "answers": {"text": [...],
	                                  * "answer_start": [...]}} (and "id", "title"), or a
	                                  * SQuAD JSON file's questions; empty answer lists
	                                  * (SQuAD v2's is_impossible) have no answer */
	ADA_SHAPE_SEQ2SEQ = 7,           /* {"source", "target"}, or as XSum and CNN/DailyMail
	                                  * name them {"document", "summary"}, {"article",
	                                  * "highlights"}; an "id" beside them is ignored */
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
	/* chat: the first line that uses tool or function calling (OpenAI's
	 * format allows it; training does not support it yet), 0 when none,
	 * and the field there ("messages[1].tool_calls", "tools") */
	int64_t tool_line;
	char tool_field[64];
};

/* Stable names: "plain_text"/"jsonl"/"squad_json"; "text", "prompt_completion", "chat",
 * "classification", "pair_classification", "question_answering", "seq2seq"; "none",
 * "int", "string", "float". */
ADA_API const char *ada_data_format_name(int format);
ADA_API const char *ada_data_shape_name(int shape);
ADA_API const char *ada_label_kind_name(int kind);

enum ada_data_flags {
	ADA_DATA_JSONL_ONLY = 1 << 0,   /* refuse plain text (the upload check) */
};

/* Check a training file held in buf[0..len) without a tokenizer: UTF-8,
 * format, and every JSONL line against the shapes above (unknown keys,
 * wrong types, empty strings and mixed shapes are errors). Errors name the
 * 1-based line and the field; a file without records is an error too.
 * info is filled on success. */
ADA_API int ada_data_validate(const char *buf, size_t len, unsigned flags,
		      struct ada_data_info *info, struct ada_err *err);

/* The labels of a classification file in buf[0..len) (JSONL; what
 * ada_data_validate called shape classification), as training will map
 * them: a new JSON object {"kind": "int", "num_labels": largest + 1},
 * {"kind": "string", "num_labels": n, "labels": [the distinct strings,
 * sorted: class ids in order]} or {"kind": "float", "num_labels": 1}.
 * Fails, naming the line, on what training refuses in one file (a negative
 * or huge class id, string and numeric labels mixed, an unlabelled line). */
ADA_API int ada_data_labels(const char *buf, size_t len, json_t **out, struct ada_err *err);

/* Whether two ada_data_labels() summaries make a classification job that
 * training accepts: at least 2 training classes (or a regression), and a
 * validation file (valid may be NULL) whose labels fit the training label
 * map (no unseen string, no id past the training count, the same kind).
 * ADA_EINVAL with err->param "training_file" or "validation_file" (the
 * API's names) and a message otherwise. Training checks the same again. */
ADA_API int ada_labels_check(const json_t *train, const json_t *valid, struct ada_err *err);

/* ---- ROUGE ------------------------------------------------------------- */

/* struct ada_rouge_score and struct ada_rouge: above, beside the other
 * metrics (a seq2seq validation reports them). */

/* Score preds[i] against refs[i] (NUL-terminated UTF-8) for i < n, each as
 * rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL", "rougeLsum"],
 * use_stemmer).score(refs[i], preds[i]), and average each number over the
 * pairs: the plain mean (rouge-score's BootstrapAggregator reports as "mid"
 * the median of 1000 resampled means, a random estimate of this mean).
 * n == 0 gives NAN scores. Fails only on memory (ADA_ENOMEM) or a text
 * longer than 2^31 bytes (ADA_EINVAL). */
ADA_API int ada_rouge(const char *const *preds, const char *const *refs, size_t n, int use_stemmer,
		      struct ada_rouge *out, struct ada_err *err);

/* A new JSON object {"rouge1": {"precision", "recall", "fmeasure"}, "rouge2",
 * "rougeL", "rougeLsum", "n", "use_stemmer"}; non-finite numbers as null. */
ADA_API json_t *ada_rouge_to_json(const struct ada_rouge *r);

/* Set the four F-measures into obj (borrowed) as key_prefix + "rouge1",
 * "rouge2", "rougeL", "rougeLsum" ("valid_" gives the validation events'
 * "valid_rouge1", ...); non-finite ones are left out. */
ADA_API void ada_rouge_json(json_t *obj, const struct ada_rouge *r, const char *key_prefix);

/* ada_rouge() of the texts of two files, pair by pair (`adalora rouge`).
 * A file whose first non-blank line starts with '{' or '"' is JSONL: each
 * non-blank line a JSON string, or an object whose text is its
 * "prediction", "target", "summary" or "text" (the first it has); any
 * other file has one text per line. Both must be UTF-8 and hold as many
 * texts (else ADA_EINVAL, param "ref"); errors name the file and line. */
ADA_API int ada_rouge_files(const char *pred_path, const char *ref_path, int use_stemmer,
			    struct ada_rouge *out, struct ada_err *err);

/* ---- serving: many adapters over one base ------------------------------ */

/*
 * A served model (struct ada_served) is a base model, loaded once however
 * many adapters use it (its weights stay in the file mapping, in their
 * type), plus optionally one adapter applied without merging (LoRA,
 * AdaLoRA with its rank pattern, BitFit, Houlsby bottlenecks, FULL; a
 * classification job's head). Handles are references: bases and adapters
 * are immutable once open and freed with their last handle, so handles may
 * be used from any thread.
 */
struct ada_served;

/* Open model (+ adapter, may be NULL) without a cache; release with
 * ada_served_free. */
ADA_API int ada_served_open(const char *model, const char *tokenizer, const char *adapter,
			    struct ada_served **out, struct ada_err *err);
/* A second handle on the same base and adapter. */
ADA_API struct ada_served *ada_served_dup(struct ada_served *m);
ADA_API void ada_served_free(struct ada_served *m);

struct ada_served_info {
	enum ada_family family;
	int context_length, vocab_size;
	int generates;              /* a causal LM: completions and chat */
	int classifier;             /* the adapter carries a classification head */
	int num_labels;             /* a classifier's outputs (1: regression) */
	int label_kind;             /* enum ada_label_kind of a classifier */
	int seq_len;                /* a classifier's or QA model's training seq_len (0: unknown) */
	int has_chat;               /* a chat template we render */
	char chat_template[16];     /* its family ("chatml", ...), "" without */
	char peft_type[16];         /* the adapter's, "" without */
	int64_t weight_bytes;       /* the base's matrices as stored (mapped once) */
	int64_t adapter_bytes;      /* the adapter's own memory (0 without) */
	int question_answering;     /* the adapter carries an extractive QA head */
	int qa_version_2;           /* QA: trained with unanswerable questions (SQuAD v2) */
	int qa_n_best_size;         /* QA: the job's n_best_size (the most top_k may ask) */
};

ADA_API void ada_served_describe(const struct ada_served *m, struct ada_served_info *info);
/* A classifier's label i by name ("positive"; for integer labels "0", ...),
 * or NULL. Borrowed from m. */
ADA_API const char *ada_served_label(const struct ada_served *m, int i);
/* Why the model cannot chat ("" when it can): borrowed from m. */
ADA_API const char *ada_served_chat_refusal(const struct ada_served *m);

/* Prompt tokens as `adalora generate` makes them: BOS, then text[0..len)
 * (valid UTF-8; special tokens are not parsed). *ids is malloc'ed. */
ADA_API int ada_served_encode(const struct ada_served *m, const char *text, size_t len,
			      int32_t **ids, size_t *n, struct ada_err *err);
/* A chat's prompt: messages (a JSON array of {"role": "system"|"user"|
 * "assistant", "content": string}, borrowed) rendered with the model's chat
 * template, then its generation prompt (the assistant turn's header), and
 * encoded as training encodes chats. Errors name the message
 * ("messages[1].content ...", param "messages"). */
ADA_API int ada_served_chat(const struct ada_served *m, const json_t *messages, int32_t **ids,
			    size_t *n, struct ada_err *err);
/* The bytes token id adds after token prev (-1: none), as `adalora
 * generate` prints them before its filtering: byte tokens are single bytes
 * (not always valid UTF-8 alone), control tokens nothing. Returns the
 * count written to buf (at most cap), or -1 for an id out of range. */
ADA_API int ada_served_piece(const struct ada_served *m, int32_t prev, int32_t id, char *buf,
			     size_t cap);
/* Whether id ends a completion: BOS or EOS; with chat also the template's
 * end-of-turn token ("<|im_end|>", "<|eot_id|>", ...). */
ADA_API int ada_served_stop_token(const struct ada_served *m, int32_t id, int chat);

/* A classifier's outputs for a text (or the pair a, b; b may be NULL),
 * truncated to the adapter's seq_len (or the context): logits[num_labels]
 * (a regression's value). *truncated is set when tokens were dropped. */
ADA_API int ada_served_classify(struct ada_served *m, const char *a, const char *b,
				float *logits, int *truncated, int *n_tokens,
				struct ada_err *err);

/* How a QA model answers (ada_served_answer); ada_qa_opts_init() gives
 * the job's settings (qa.json) for everything. */
struct ada_qa_opts {
	int top_k;                  /* spans to report, 1..n_best_size; 0: 1 */
	int max_seq_length;         /* tokens per window; 0: the job's seq_len */
	int doc_stride;             /* overlap of a long context's windows; < 0: the job's */
	int max_answer_length;      /* tokens; 0: the job's */
	double null_score_diff_threshold;   /* SQuAD v2 models; NAN: the job's */
	int64_t max_windows;        /* a context cut into more is refused; 0: no limit */
};

ADA_API void ada_qa_opts_init(struct ada_qa_opts *o);
/* An extractive QA model's (a question_answering job's adapter) answer to
 * question over context (NUL-terminated UTF-8): the context cut into
 * windows, and the answer chosen, exactly as `adalora eval` does with the
 * job's settings (README "Extractive question answering"); the null answer
 * competes when the job trained with unanswerable questions. out is the
 * caller's (release with ada_qa_answer_release). ADA_EINVAL with param
 * "model" (not a QA model), "question" or "context" (no tokens; a context
 * of more than o->max_windows windows), or the option's name. */
ADA_API int ada_served_answer(struct ada_served *m, const char *question, const char *context,
			      const struct ada_qa_opts *o, struct ada_qa_answer *out,
			      struct ada_err *err);

/* Bases and adapters shared between requests. Bases are keyed by their
 * paths (and the file's size and modification time): while any handle or
 * cached adapter uses one it stays loaded, and idle_bases more stay loaded
 * when idle. Adapters are kept in least-recently-used order and evicted
 * while the cached ones hold more than adapter_limit bytes (0: no limit);
 * one in use is evicted from the cache only (its handles keep it alive).
 * Thread-safe; a load holds the cache's lock. */
struct ada_model_cache;

struct ada_model_cache_stats {
	int64_t bases, adapters;     /* loaded now (idle or in use) */
	int64_t base_bytes;          /* their weights as stored */
	int64_t adapter_bytes;       /* the cached adapters' memory */
	int64_t hits, misses, evictions;
};

ADA_API int ada_model_cache_new(int64_t adapter_limit, int idle_bases,
				struct ada_model_cache **out, struct ada_err *err);
/* Every handle it gave must have been freed. */
ADA_API void ada_model_cache_free(struct ada_model_cache *c);
ADA_API int ada_model_cache_get(struct ada_model_cache *c, const char *model,
				const char *tokenizer, const char *adapter,
				struct ada_served **out, struct ada_err *err);
ADA_API void ada_model_cache_stats(struct ada_model_cache *c, struct ada_model_cache_stats *s);

/* One sequence being decoded: its tokens, a key/value cache of its own
 * (sized for the prompt and max_new tokens), its sampler. */
struct ada_seq;

struct ada_sampling {
	double temperature;         /* 0: greedy (the first maximum) */
	double top_p;               /* (0, 1]; 1: off */
	uint64_t seed;
	int logprobs;               /* report each chosen token's log-probability */
	int top_logprobs;           /* and the most likely ones, 0..ADA_TOP_LOGPROBS_MAX */
};

#define ADA_TOP_LOGPROBS_MAX 20

/* What a step chose for a sequence. Log-probabilities are of the model's
 * distribution (temperature 1, before top_p). */
struct ada_token {
	int32_t id;
	float logprob;
	int n_top;
	int32_t top_id[ADA_TOP_LOGPROBS_MAX];
	float top_logprob[ADA_TOP_LOGPROBS_MAX];
};

/* A sequence of m (a handle is taken) over prompt[0..n_prompt) (n_prompt >=
 * 1, ids < the vocabulary), which may generate max_new tokens:
 * n_prompt + max_new - 1 <= the context (ADA_EINVAL, param "max_tokens",
 * otherwise). */
ADA_API int ada_seq_new(struct ada_served *m, const int32_t *prompt, size_t n_prompt,
			int max_new, const struct ada_sampling *s, struct ada_seq **out,
			struct ada_err *err);
ADA_API void ada_seq_free(struct ada_seq *s);
/* 1 with *tok when the last step chose a token for s, else 0 (its prompt
 * is not all read yet). */
ADA_API int ada_seq_token(const struct ada_seq *s, struct ada_token *tok);
/* Whether s can take another step: its chosen tokens are fewer than max_new. */
ADA_API int ada_seq_can_step(const struct ada_seq *s);
ADA_API const struct ada_served *ada_seq_model(const struct ada_seq *s);

/* The workspace of a decoding thread: max_rows tokens per step (prompt
 * tokens of a new sequence count one each; a sequence in generation one). */
struct ada_decoder;

ADA_API int ada_decoder_new(int max_rows, struct ada_decoder **out, struct ada_err *err);
ADA_API void ada_decoder_free(struct ada_decoder *d);

/* One step of every sequence in seqs[0..n) (each may carry its own
 * adapter, or none; the sequences of a base go through its weights
 * together, base after base): each reads its next tokens (the rest of its
 * prompt, as much as the step has rows for, or the token chosen last) and,
 * once its prompt is read, chooses a token (ada_seq_token). Each
 * sequence's numbers are the same whatever else is in the step. Runs on
 * the calling thread's pool (ada_set_threads). On an error the sequences
 * cannot go on (free them). */
ADA_API int ada_decode_step(struct ada_decoder *d, struct ada_seq *const *seqs, int n,
			    struct ada_err *err);

/* Text as a completion returns it: pieces in, valid UTF-8 out (a byte
 * sequence that cannot become a character is U+FFFD), cut before the
 * first of the stop strings, text that may still become one held back. */
struct ada_text_stream;

ADA_API int ada_text_stream_new(const char *const *stops, int n_stops,
				struct ada_text_stream **out, struct ada_err *err);
ADA_API void ada_text_stream_free(struct ada_text_stream *t);
/* Add piece[0..n); *out / *out_len receive the text now final (borrowed
 * until the next call). Returns 1 when a stop string matched (the text
 * before it is in *out, nothing after it ever will be), 0 otherwise, -1
 * when out of memory. */
ADA_API int ada_text_stream_push(struct ada_text_stream *t, const char *piece, size_t n,
				 const char **out, size_t *out_len);
/* The end: what was held back (an unfinished character as U+FFFD). */
ADA_API int ada_text_stream_finish(struct ada_text_stream *t, const char **out, size_t *out_len);

#endif
