/*
 * cmd_eval — `adalora eval --model PATH [--tokenizer PATH] [--adapter DIR]
 * --data FILE [--format auto|jsonl|glue-tsv] [--seq-len N]
 * [--chat-template NAME] [--append-eos auto|true|false]`.
 *
 * Language models: {"tokens","mean_nll","perplexity"} on stdout, and the
 * same without the framing tokens (the EOS, or BOS, ending each text):
 * "framing_tokens", "mean_nll_no_framing", "perplexity_no_framing"; then
 * the framing used: "append_eos", and "chat_template" for chat data.
 * Extractive QA (an adapter a question_answering job wrote; --data SQuAD
 * JSON or QA JSONL): {"examples","features","loss","exact","f1","total"}
 * and, with unanswerable questions, HasAns_* / NoAns_* (percent, the
 * official SQuAD script's names); --predictions FILE gets each question's
 * answer as a JSON line ({"id", "answer", "start", "end", "score", ...}:
 * what POST /v1/question_answering answers).
 * Classifiers (an adapter a classification job wrote): {"examples","loss",
 * "accuracy","f1","mcc"} (f1 with two classes only), regressions
 * {"examples","loss","pearson","spearman"}; an undefined metric (e.g. MCC
 * of a constant prediction) is null.
 * Encoder-decoders (BART; {"source","target"} data): {"examples", "loss"
 * (teacher-forced mean NLL of the target tokens), "target_tokens",
 * "token_accuracy", "truncated", "generated", "exact_match", "rouge1",
 * "rouge2", "rougeL", "rougeLsum" (each {"precision", "recall",
 * "fmeasure"}), "rouge_stemmer", "num_beams", "max_length"}; sources and
 * targets cut as training cuts them (--max-source-length,
 * --max-target-length, 0: auto), every source decoded unless
 * --no-generate (greedy, or beam search with gen_flags.h's flags over the
 * model's generation config; max_length defaults to the target length),
 * scored with ROUGE (--rouge-stemmer true|false, default true as
 * run_summarization), the decodes written to --predictions FILE as JSON
 * lines.
 */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "gen_flags.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora eval --model PATH [--tokenizer PATH] [--adapter DIR] --data FILE\n"
	"                    [--format auto|jsonl|glue-tsv] [--seq-len N] [--threads N]\n"
	"                    [--chat-template NAME] [--append-eos auto|true|false]\n"
	"       (BART)       [--max-source-length N] [--max-target-length N] [--no-generate]\n"
	"                    [--predictions FILE] [--rouge-stemmer true|false]\n"
	"       (QA)         [--predictions FILE]\n"
	GEN_FLAGS_USAGE;

static json_t *num(double v)
{
	return isfinite(v) ? json_real(v) : json_null();
}

static json_t *result_json(const struct ada_eval_result *res)
{
	json_t *j;

	if (res->question_answering) {
		/* the official script's names (evaluate-v2.0.py) */
		j = json_object();
		json_object_set_new(j, "examples", json_integer(res->examples));
		json_object_set_new(j, "features", json_integer(res->features));
		json_object_set_new(j, "loss", num(res->loss));
		json_object_set_new(j, "exact", num(res->qa.exact));
		json_object_set_new(j, "f1", num(res->qa.f1));
		ada_qa_metrics_json(j, &res->qa, "");
		return j;
	}
	if (res->seq2seq) {
		j = json_object();
		json_object_set_new(j, "examples", json_integer(res->examples));
		json_object_set_new(j, "loss", num(res->loss));
		json_object_set_new(j, "target_tokens", json_integer(res->target_tokens));
		json_object_set_new(j, "token_accuracy", num(res->token_accuracy));
		json_object_set_new(j, "truncated", json_integer(res->truncated));
		json_object_set_new(j, "generated", json_integer(res->generated));
		json_object_set_new(j, "exact_match", num(res->exact_match));
		if (res->generated) {
			json_t *r = ada_rouge_to_json(&res->rouge);
			const char *k[] = { "rouge1", "rouge2", "rougeL", "rougeLsum" };

			for (int i = 0; r && i < 4; i++)
				json_object_set(j, k[i], json_object_get(r, k[i]));
			json_object_set_new(j, "rouge_stemmer", json_boolean(res->rouge.use_stemmer));
			json_object_set_new(j, "num_beams", json_integer(res->num_beams));
			json_object_set_new(j, "max_length", json_integer(res->max_length));
			json_decref(r);
		}
		return j;
	}
	if (!res->classification) {
		j = json_pack("{sI so so sI so so sb}", "tokens", (json_int_t)res->tokens,
			      "mean_nll", num(res->mean_nll), "perplexity", num(res->perplexity),
			      "framing_tokens", (json_int_t)res->framing_tokens,
			      "mean_nll_no_framing", num(res->mean_nll_no_framing),
			      "perplexity_no_framing", num(res->perplexity_no_framing),
			      "append_eos", res->append_eos);
		if (j && res->chat_template[0])
			json_object_set_new(j, "chat_template", json_string(res->chat_template));
		return j;
	}
	j = json_object();
	json_object_set_new(j, "examples", json_integer(res->examples));
	json_object_set_new(j, "loss", num(res->loss));
	ada_glue_metrics_json(j, &res->glue, res->num_labels, "");
	return j;
}

int cmd_eval(int argc, char **argv)
{
	struct ada_infer_opts in = { 0 };
	const char *data = NULL, *format = "auto", *pos[1], *chat = NULL, *eos = "auto";
	struct ada_framing framing = { .append_eos = -1 };
	struct ada_s2s_eval_opts s2s = { .generate = 1 };
	struct ada_model_info info;
	int seq_len = 0, threads = 0, n_pos, rc, fmt, no_generate = 0;
	const char *stemmer = "true";
	char *generation = NULL;
	struct gen_flags g;
	struct cli_opt opts[14 + GEN_FLAGS_N] = {
		{ "--model", NULL, OPT_STRING, &in.model, 0 },
		{ "--tokenizer", NULL, OPT_STRING, &in.tokenizer, 0 },
		{ "--adapter", NULL, OPT_STRING, &in.adapter, 0 },
		{ "--data", NULL, OPT_STRING, &data, 0 },
		{ "--format", NULL, OPT_STRING, &format, 0 },
		{ "--seq-len", NULL, OPT_INT, &seq_len, 0 },
		{ "--threads", NULL, OPT_INT, &threads, 0 },
		{ "--chat-template", NULL, OPT_STRING, &chat, 0 },
		{ "--append-eos", NULL, OPT_STRING, &eos, 0 },
		{ "--max-source-length", NULL, OPT_INT, &s2s.max_source_length, 0 },
		{ "--max-target-length", NULL, OPT_INT, &s2s.max_target_length, 0 },
		{ "--no-generate", NULL, OPT_FLAG, &no_generate, 0 },
		{ "--predictions", NULL, OPT_STRING, &s2s.predictions, 0 },
		{ "--rouge-stemmer", NULL, OPT_STRING, &stemmer, 0 },
	};
	struct ada_eval_result res;
	struct ada_err err = { 0 };
	json_t *j;

	gen_flags_init(&g);
	memcpy(opts + 14, g.opts, sizeof(g.opts));
	if ((rc = cli_parse("eval", usage, argc, argv, opts, 14 + GEN_FLAGS_N, pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!in.model || !data)
		return cli_fail("eval", EXIT_USAGE, "--model and --data are required\n%s", usage);
	if (seq_len < 0 || seq_len == 1 || threads < 0)
		return cli_fail("eval", EXIT_USAGE, "--seq-len must be >= 2, --threads >= 1");
	if ((fmt = ada_file_format_from_name(format)) < 0)
		return cli_fail("eval", EXIT_USAGE, "--format must be auto, jsonl or glue-tsv");
	if (strcmp(eos, "auto") && strcmp(eos, "true") && strcmp(eos, "false"))
		return cli_fail("eval", EXIT_USAGE, "--append-eos must be auto, true or false");
	framing.append_eos = !strcmp(eos, "auto") ? -1 : !strcmp(eos, "true");
	framing.chat_template = chat;
	if (s2s.max_source_length < 0 || s2s.max_source_length == 1 ||
	    s2s.max_target_length < 0 || s2s.max_target_length == 1)
		return cli_fail("eval", EXIT_USAGE,
				"--max-source-length and --max-target-length must be >= 2 (0: auto)");
	if (strcmp(stemmer, "true") && strcmp(stemmer, "false"))
		return cli_fail("eval", EXIT_USAGE, "--rouge-stemmer must be true or false");
	if ((rc = gen_flags_json(&g, opts, 14 + GEN_FLAGS_N, "eval", &generation)))
		return rc;
	if (threads)
		ada_set_threads(threads);
	s2s.generate = !no_generate;
	s2s.generation = generation;
	s2s.rouge_no_stemmer = !strcmp(stemmer, "false");
	if (!ada_model_probe(in.model, &info, &err) && info.family == ADA_FAMILY_BART) {
		rc = ada_eval_seq2seq(&in, data, &s2s, &res, &err);
	} else if (generation || opts[13].seen) {
		free(generation);
		return cli_fail("eval", EXIT_USAGE,
				"the generation flags and --rouge-stemmer are for an encoder-decoder (BART)");
	} else if (s2s.predictions) {
		/* only a question answering adapter has predictions to write */
		rc = ada_eval_qa(&in, data, seq_len, s2s.predictions, &res, &err);
	} else {
		rc = ada_eval(&in, data, (enum ada_file_format)fmt, seq_len, &framing, &res, &err);
	}
	free(generation);
	if (rc)
		return cli_fail("eval", rc == ADA_EINVAL && err.param[0] ? EXIT_USAGE : EXIT_RUNTIME,
				"%s", err.msg);
	j = result_json(&res);
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(10));
	fputc('\n', stdout);
	json_decref(j);
	return 0;
}
