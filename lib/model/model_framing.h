/*
 * model_framing — a model's text framing and chat template family, from
 * its metadata (model_framing.c has the rule).
 */
#ifndef ADA_MODEL_MODEL_FRAMING_H
#define ADA_MODEL_MODEL_FRAMING_H

#include "adalora.h"

struct model;
struct tokenizer;

/* Does name (a model's name, or a path: its last component) say llama2.c's
 * tinyllamas ("tinyllamas...", "stories15M", "llama2.c")? */
int model_name_is_llama2c(const char *name);

/* Whether text records of a job on m end with EOS when append_eos is auto:
 * 1, or 0 for BOS-only framing. t (may be NULL) is the job's tokenizer. */
int model_default_append_eos(const struct model *m, const struct tokenizer *t);

/* info->chat_template and info->append_eos of the model at path, whose
 * format ("gguf", "llama2c", "hf") the probe found; metadata only. */
int model_probe_framing(const char *path, const char *format, struct ada_model_info *info,
			struct ada_err *err);

#endif
