/*
 * Sequence to sequence end to end, on a tiny random BART the test writes
 * (tests/support/tiny_bart.h) and a synthetic task (reverse a sequence of
 * letters):
 *   - seq2seq data: the shapes ada_data_validate accepts and refuses, the
 *     dataset's framing, truncation to max_source_length /
 *     max_target_length, and teacher forcing's batches;
 *   - AdaLoRA (and LoRA) learn the task from a frozen random base: the
 *     validation loss falls and the teacher-forced token accuracy climbs;
 *     the final validation decodes the held-out sources to ROUGE-L >= 0.9
 *     (AdaLoRA), and ada_eval_seq2seq on the exported adapter reports the
 *     same ROUGE (greedy; and with beam search, which also scores >= 0.9);
 *     the rank matrix spans the encoder's six and the decoder's ten modules;
 *     `adalora generate` (greedy and beam, KV-cached) with the exported
 *     adapter reverses held-out sources;
 *   - PEFT export (SEQ_2_SEQ_LM, Hugging Face module paths) and import give
 *     the trained network's logits back, for adalora, lora and lora_prune;
 *   - a job stopped at step k and resumed ends bit for bit where an
 *     uninterrupted one does (before and after the rank freeze, with label
 *     smoothing and adapter dropout);
 *   - the job's errors: task and model that do not fit, methods BART does
 *     not take, lengths over the context.
 */
#include "check.h"

#include "adalora.h"
#include "adapter/export_peft.h"
#include "data/s2s_data.h"
#include "format/safetensors.h"
#include "infer/inference_net.h"
#include "model/model.h"
#include "net/seq2seq_step.h"
#include "net/trained_net.h"
#include "nn/bart.h"
#include "util/rng.h"
#include "scratch.h"
#include "stopper.h"
#include "tiny_bart.h"
#include "tokenizer/tokenizer.h"
#include "util/err.h"
#include "util/fileio.h"

static char *tmp;
static char bart_dir[4200];

static char *in_tmp(const char *name)
{
	return path_join(tmp, name);
}

static void base_job(struct ada_job *job, enum ada_method_type t, const char *train,
		     const char *valid, const char *out)
{
	memset(job, 0, sizeof(*job));
	job->model = bart_dir;
	job->train_file = train;
	job->valid_file = valid;
	job->out_dir = out;
	job->seed = 11;
	job->threads = 2;
	ada_method_defaults(t, &job->method);
	job->method.hp.max_steps = 40;
	job->method.hp.batch_size = 16;
	job->method.hp.micro_batch_size = 8;
	job->method.hp.learning_rate = 1e-2;
	job->method.hp.log_every = 10;
	job->method.hp.checkpoint_every = 0;
	job->method.hp.warmup_steps = 10;
	job->method.hp.r = 8;
	job->method.hp.init_r = 8;
	job->method.hp.target_r = 6;
	job->method.hp.tinit = 10;
	job->method.hp.tfinal = 10;
	job->method.hp.delta_t = 10;
}

/* ---- data --------------------------------------------------------------- */

static void test_data_shapes(void)
{
	static const struct {
		const char *text;
		int ok;
		const char *msg;
	} cases[] = {
		{ "{\"source\": \"a b\", \"target\": \"b a\"}\n", 1, NULL },
		{ "{\"document\": \"a b\", \"summary\": \"b\", \"id\": \"3\"}\n", 1, NULL },
		{ "{\"article\": \"a b\", \"highlights\": \"b\"}\n", 1, NULL },
		{ "{\"source\": \"a b\"}\n", 0, "\"target\"" },
		{ "{\"source\": \"\", \"target\": \"b\"}\n", 0, "empty" },
		{ "{\"source\": \"a\", \"summary\": \"b\"}\n", 0, "not both" },
		{ "{\"source\": \"a\", \"target\": \"b\", \"label\": 1}\n", 0, "unknown key" },
		{ "{\"source\": \"a\", \"target\": 3}\n", 0, "string" },
		{ "{\"source\": \"a\", \"target\": \"b\"}\n{\"text\": \"c\"}\n", 0, "one shape" },
	};
	struct ada_data_info info;
	struct ada_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = ada_data_validate(cases[i].text, strlen(cases[i].text), ADA_DATA_JSONL_ONLY,
					   &info, &err);
		CHECK_MSG((rc == ADA_OK) == cases[i].ok, "case %zu: %s", i, err.msg);
		if (cases[i].ok)
			CHECK_INT_EQ(info.shape, ADA_SHAPE_SEQ2SEQ);
		else
			CHECK_MSG(strstr(err.msg, cases[i].msg) != NULL, "case %zu: %s", i, err.msg);
	}
	CHECK_STR_EQ(ada_data_shape_name(ADA_SHAPE_SEQ2SEQ), "seq2seq");
}

/* The seq2seq hyperparameters: "auto" or a count, written back as given. */
static void test_hparams(void)
{
	static const struct {
		const char *hp;
		int ok;
		const char *param;
	} cases[] = {
		{ "{\"max_source_length\": \"auto\", \"max_target_length\": 48}", 1, NULL },
		{ "{\"max_source_length\": 1}", 0, "method.lora.hyperparameters.max_source_length" },
		{ "{\"max_target_length\": 2.5}", 0, "method.lora.hyperparameters.max_target_length" },
		{ "{\"label_smoothing\": 0.1}", 1, NULL },
		{ "{\"label_smoothing\": -0.1}", 0, "method.lora.hyperparameters.label_smoothing" },
		{ "{\"label_smoothing\": 1}", 0, "method.lora.hyperparameters.label_smoothing" },
		{ "{\"valid_generate_examples\": \"all\", \"generation_num_beams\": 4}", 1, NULL },
		{ "{\"valid_generate_examples\": -1}", 0,
		  "method.lora.hyperparameters.valid_generate_examples" },
		{ "{\"valid_generate_examples\": \"some\"}", 0,
		  "method.lora.hyperparameters.valid_generate_examples" },
		{ "{\"generation_num_beams\": 0}", 0, "method.lora.hyperparameters.generation_num_beams" },
		{ "{\"generation_num_beams\": 257}", 0,
		  "method.lora.hyperparameters.generation_num_beams" },
		{ "{\"generation_max_length\": 1}", 0,
		  "method.lora.hyperparameters.generation_max_length" },
		{ "{\"generation_max_length\": \"auto\"}", 1, NULL },
	};
	struct ada_method m;
	struct ada_err err;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char text[256];
		json_t *j;
		int rc;

		snprintf(text, sizeof(text), "{\"type\":\"lora\",\"lora\":{\"hyperparameters\":%s}}",
			 cases[i].hp);
		j = json_loads(text, 0, NULL);
		rc = ada_method_from_json(j, &m, &err);
		json_decref(j);
		CHECK_MSG((rc == ADA_OK) == cases[i].ok, "case %zu: %s", i, err.msg);
		if (!cases[i].ok)
			CHECK_STR_EQ(err.param, cases[i].param);
	}
	ada_method_defaults(ADA_METHOD_ADALORA, &m);
	CHECK(m.hp.max_source_length == 0 && m.hp.max_target_length == 0 &&
	      m.hp.label_smoothing == 0);
	CHECK(m.hp.valid_generate_examples == 64 && m.hp.generation_num_beams == 0 &&
	      m.hp.generation_max_length == 0);
	m.hp.max_target_length = 48;
	{
		json_t *j = ada_method_to_json(&m), *hp, *back;
		struct ada_method m2;

		hp = json_object_get(json_object_get(j, "adalora"), "hyperparameters");
		CHECK_STR_EQ(json_string_value(json_object_get(hp, "max_source_length")), "auto");
		CHECK_INT_EQ(json_integer_value(json_object_get(hp, "max_target_length")), 48);
		CHECK_INT_EQ(json_integer_value(json_object_get(hp, "valid_generate_examples")), 64);
		CHECK_STR_EQ(json_string_value(json_object_get(hp, "generation_num_beams")), "auto");
		CHECK_STR_EQ(json_string_value(json_object_get(hp, "generation_max_length")), "auto");
		/* what the API returns is accepted back as it is */
		back = json_deep_copy(j);
		CHECK_OK(ada_method_from_json(back, &m2, &err), &err);
		CHECK(m2.hp.max_source_length == 0 && m2.hp.max_target_length == 48);
		json_decref(back);
		json_decref(j);
	}
}

/* Framing, truncation and teacher forcing's batches, token by token. */
static void test_dataset(void)
{
	char *path = in_tmp("ds.jsonl"), *vocab = path_join(bart_dir, "vocab.json");
	char *merges = path_join(bart_dir, "merges.txt");
	const char *text = "{\"source\": \"a b c d e f\", \"target\": \"x y\"}\n"
			   "{\"document\": \"q\", \"summary\": \"r s t u v\"}\n";
	struct tokenizer *t = NULL;
	struct s2s_dataset ds = { 0 }, valid = { 0 };
	struct ada_err err;

	CHECK_OK(file_write_atomic(path, text, strlen(text), &err), &err);
	CHECK_OK(tokenizer_load_gpt2_files(vocab, merges, &t, &err), &err);
	if (!t)
		goto out;
	/* sources to 5 tokens (<s> a b c </s>), targets to 4 */
	CHECK_OK(s2s_data_load(path, t, 5, 4, &ds, &err), &err);
	CHECK_INT_EQ(ds.n, 2);
	CHECK_INT_EQ(ds.n_truncated_src, 1);
	CHECK_INT_EQ(ds.n_truncated_tgt, 1);
	CHECK_INT_EQ(ds.max_src, 5);
	CHECK_INT_EQ(ds.max_tgt, 4);
	CHECK_INT_EQ(ds.target_tokens, 8);
	if (ds.n == 2) {
		const int32_t s0[] = { 0, TINY_BART_BYTE('a'), TINY_BART_SPACE_LETTER('b'),
				       TINY_BART_SPACE_LETTER('c'), 2 };
		const int32_t t1[] = { 0, TINY_BART_BYTE('r'), TINY_BART_SPACE_LETTER('s'), 2 };
		int64_t idx[2] = { 1, 0 };
		int32_t src[10], src_len[2], dec[8], lab[8];
		int S, T;

		CHECK_INT_EQ(ds.src_len[0], 5);
		CHECK(!memcmp(s2s_source(&ds, 0), s0, sizeof(s0)));
		CHECK_INT_EQ(ds.src_len[1], 3);
		CHECK(!memcmp(s2s_target(&ds, 1), t1, sizeof(t1)));
		CHECK_STR_EQ(ds.target_text[1], "r s t u v");
		CHECK_INT_EQ(ds.line[1], 2);
		/* a batch: example 1 then 0; pad 1, decoder start 2 */
		CHECK_INT_EQ(s2s_batch(&ds, idx, 2, 1, 2, src, src_len, dec, lab, &S, &T), 8);
		CHECK_INT_EQ(S, 5);
		CHECK_INT_EQ(T, 4);
		CHECK(src_len[0] == 3 && src_len[1] == 5);
		CHECK(src[3] == 1 && src[4] == 1);          /* the shorter source padded */
		/* decoder input: the labels shifted right behind the start token */
		CHECK(dec[0] == 2 && dec[1] == t1[0] && dec[2] == t1[1] && dec[3] == t1[2]);
		CHECK(!memcmp(lab, t1, sizeof(t1)));
		CHECK(lab[4] == 0 && lab[7] == 2 && dec[4] == 2 && dec[5] == 0);
	}
	CHECK_OK(s2s_data_split_tail(&ds, 0.5, &valid, &err), &err);
	CHECK(ds.n == 1 && valid.n == 1);
	CHECK(ds.n_truncated_src == 1 && ds.n_truncated_tgt == 0);
	CHECK(valid.n_truncated_src == 0 && valid.n_truncated_tgt == 1);
	CHECK_STR_EQ(valid.target_text[0], "r s t u v");
	CHECK_INT_EQ(valid.src_len[0], 3);
	s2s_dataset_release(&ds);
	s2s_dataset_release(&valid);

	/* lengths that leave no room beside <s> and </s> */
	CHECK_INT_EQ(s2s_data_load(path, t, 2, 4, &ds, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_source_length");
	CHECK_INT_EQ(s2s_data_load(path, t, 5, 2, &ds, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "max_target_length");
	/* other shapes are refused, naming the line */
	CHECK_OK(file_write_atomic(path, "{\"text\": \"a\"}\n", 14, &err), &err);
	CHECK_INT_EQ(s2s_data_load(path, t, 8, 8, &ds, &err), ADA_EINVAL);
	CHECK(strstr(err.msg, "line 1") && strstr(err.msg, "seq2seq"));
out:
	tokenizer_free(t);
	free(path);
	free(vocab);
	free(merges);
}

/* ---- training ----------------------------------------------------------- */

struct rank_seen {
	int calls, n_layers, n_modules, has_groups, cross_in_encoder, cross_in_decoder;
	char first_module[32];
};

static void on_ranks(void *ctx, const struct ada_ranks *r)
{
	struct rank_seen *s = ctx;

	s->calls++;
	s->n_layers = r->n_layers;
	s->n_modules = r->n_modules;
	snprintf(s->first_module, sizeof(s->first_module), "%s", r->module_names[0]);
	s->has_groups = r->layer_groups && r->module_groups;
	s->cross_in_encoder = s->cross_in_decoder = 0;
	for (int l = 0; s->has_groups && l < r->n_layers; l++)
		for (int m = 0; m < r->n_modules; m++) {
			if (strcmp(r->module_groups[m], "encoder_attn"))
				continue;
			if (!strcmp(r->layer_groups[l], "encoder"))
				s->cross_in_encoder += r->ranks[l * r->n_modules + m] >= 0;
			else
				s->cross_in_decoder += r->ranks[l * r->n_modules + m] >= 0;
		}
}

struct text_buf {
	char s[512];
	size_t n;
};

static void collect(void *ctx, const char *s, size_t n)
{
	struct text_buf *b = ctx;

	if (b->n + n < sizeof(b->s)) {
		memcpy(b->s + b->n, s, n);
		b->n += n;
		b->s[b->n] = '\0';
	}
}

/* Greedy generation with the job's adapter on fresh sources: the share
 * reversed exactly. */
static double generated_accuracy(const char *adapter, int n, const char *generation)
{
	char *path = in_tmp("rev_gen.jsonl"), *buf = NULL;
	struct ada_err err;
	size_t len;
	int right = 0, total = 0;

	CHECK_OK(tiny_write_reverse(path, n, 3, 6, 8, 99, 0, &err), &err);
	CHECK_OK(file_read_all(path, &buf, &len, &err), &err);
	for (char *line = buf; line && *line; line = strchr(line, '\n') ? strchr(line, '\n') + 1 : NULL) {
		json_t *j = json_loadb(line, strcspn(line, "\n"), 0, NULL);
		struct ada_generate_opts o = { .in = { .model = bart_dir, .adapter = adapter },
					       .prompt = json_string_value(json_object_get(j, "source")),
					       .n_tokens = 16, .generation = generation };
		struct text_buf got = { .n = 0 };
		char want[128];

		if (!j)
			break;
		snprintf(want, sizeof(want), "%s\n", json_string_value(json_object_get(j, "target")));
		CHECK_OK(ada_generate(&o, collect, &got, &err), &err);
		right += !strcmp(got.s, want);
		total++;
		json_decref(j);
	}
	free(buf);
	free(path);
	return total ? (double)right / total : 0;
}

/* The final validation's ROUGE (every one of the 40 held-out examples
 * decoded) against `adalora eval` on the exported adapter: the same
 * decodes, so the same numbers; and beam search scores as well. */
static void check_rouge(const struct ada_result *res, const char *adapter, const char *valid,
			const char *label)
{
	struct ada_infer_opts io = { .model = bart_dir, .adapter = adapter };
	struct ada_s2s_eval_opts eo = { .generate = 1 };
	struct ada_eval_result ev;
	struct ada_err err;
	const struct ada_rouge_score *a[] = { &res->rouge.rouge1, &res->rouge.rouge2,
					      &res->rouge.rougeL, &res->rouge.rougeLsum };
	const struct ada_rouge_score *b[] = { &ev.rouge.rouge1, &ev.rouge.rouge2, &ev.rouge.rougeL,
					      &ev.rouge.rougeLsum };

	CHECK_INT_EQ(res->rouge.n, 40);
	CHECK(res->rouge.use_stemmer);
	CHECK_MSG(res->rouge.rougeL.fmeasure >= 0.9, "%s: validation ROUGE-L %.4f", label,
		  res->rouge.rougeL.fmeasure);
	CHECK_INT_EQ(res->rouge_initial.n, 40);
	CHECK_MSG(res->rouge_initial.rougeL.fmeasure < 0.5, "%s: ROUGE-L %.4f before training",
		  label, res->rouge_initial.rougeL.fmeasure);
	CHECK_OK(ada_eval_seq2seq(&io, valid, &eo, &ev, &err), &err);
	CHECK_INT_EQ(ev.generated, 40);
	CHECK_INT_EQ(ev.rouge.n, 40);
	CHECK_INT_EQ(ev.num_beams, 1);
	for (int i = 0; i < 4; i++)
		CHECK_MSG(fabs(a[i]->fmeasure - b[i]->fmeasure) < 1e-12 &&
			  fabs(a[i]->precision - b[i]->precision) < 1e-12 &&
			  fabs(a[i]->recall - b[i]->recall) < 1e-12,
			  "%s: ROUGE %d: validation F %.6f, eval F %.6f", label, i, a[i]->fmeasure,
			  b[i]->fmeasure);
	fprintf(stderr, "%s: validation ROUGE-1/2/L/Lsum %.4f/%.4f/%.4f/%.4f (before: L %.4f), eval the same\n",
		label, a[0]->fmeasure, a[1]->fmeasure, a[2]->fmeasure, a[3]->fmeasure,
		res->rouge_initial.rougeL.fmeasure);
	/* beam search through eval, and a field it refuses */
	eo.generation = "{\"num_beams\": 4, \"length_penalty\": 1.5}";
	CHECK_OK(ada_eval_seq2seq(&io, valid, &eo, &ev, &err), &err);
	CHECK_INT_EQ(ev.num_beams, 4);
	CHECK_MSG(ev.rouge.rougeL.fmeasure >= 0.9, "%s: beam-4 ROUGE-L %.4f", label,
		  ev.rouge.rougeL.fmeasure);
	eo.generation = "{\"no_repeat_ngram_size\": -2}";
	CHECK_INT_EQ(ada_eval_seq2seq(&io, valid, &eo, &ev, &err), ADA_EINVAL);
	CHECK_STR_EQ(err.param, "no_repeat_ngram_size");
}

static void learn(enum ada_method_type t, int steps, double lr, double min_accuracy,
		  const char *label)
{
	char *train = in_tmp("rev_train.jsonl"), *valid = in_tmp("rev_valid.jsonl");
	char *out = in_tmp("run");
	struct rank_seen seen = { 0 };
	struct ada_callbacks cb = { .ctx = &seen, .on_ranks = on_ranks };
	struct ada_result res;
	struct ada_job job;
	struct ada_err err;

	CHECK_OK(tiny_write_reverse(train, 600, 3, 6, 8, 1, 0, &err), &err);
	CHECK_OK(tiny_write_reverse(valid, 40, 3, 6, 8, 2, 1, &err), &err);
	base_job(&job, t, train, valid, out);
	job.method.hp.max_steps = steps;
	job.method.hp.learning_rate = lr;
	job.method.hp.tinit = steps / 5;
	job.method.hp.tfinal = steps / 5;
	job.cb = &cb;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.plan.task, ADA_TASK_SEQ2SEQ);
	CHECK_INT_EQ(res.plan.train_windows, 600);
	CHECK_INT_EQ(res.plan.valid_windows, 40);
	CHECK_MSG(res.valid_loss < res.valid_loss_initial * 0.5,
		  "%s: validation loss %.4f from %.4f", label, res.valid_loss,
		  res.valid_loss_initial);
	CHECK_MSG(res.glue.accuracy >= min_accuracy, "%s: token accuracy %.4f", label,
		  res.glue.accuracy);
	fprintf(stderr, "%s: %d steps, valid loss %.4f -> %.4f, token accuracy %.4f\n", label, steps,
		res.valid_loss_initial, res.valid_loss, res.glue.accuracy);
	if (t == ADA_METHOD_ADALORA) {
		char *adapter = path_join(out, "adapter");
		double acc = generated_accuracy(adapter, 30, NULL);
		double beam_acc = generated_accuracy(adapter, 30, "{\"num_beams\": 4}");

		fprintf(stderr, "%s: greedy generation reverses %.0f%% of fresh sources, beam-4 %.0f%%\n",
			label, 100 * acc, 100 * beam_acc);
		CHECK_MSG(acc >= 0.9, "%s: greedy generation reverses %.3f of fresh sources", label,
			  acc);
		CHECK_MSG(beam_acc >= 0.9, "%s: beam-4 generation reverses %.3f of fresh sources",
			  label, beam_acc);
		check_rouge(&res, adapter, valid, label);
		free(adapter);
	}
	if (t != ADA_METHOD_LORA) {
		/* 2 encoder layers x 6 modules + 2 decoder layers x 10 */
		CHECK_INT_EQ(res.plan.n_matrices, 32);
		CHECK(seen.calls > 0);
		CHECK_INT_EQ(seen.n_layers, 4);
		CHECK_INT_EQ(seen.n_modules, 10);
		CHECK_STR_EQ(seen.first_module, "self_attn.q_proj");
		CHECK(seen.has_groups);
		CHECK_INT_EQ(seen.cross_in_encoder, 0);
		CHECK_INT_EQ(seen.cross_in_decoder, 2 * 4);
	}
	ada_result_release(&res);
	remove_tree(out, NULL);
	free(train);
	free(valid);
	free(out);
}

static void test_adalora_learns(void)
{
	learn(ADA_METHOD_ADALORA, 800, 3e-2, 0.97, "adalora");
}

static void test_lora_learns(void)
{
	learn(ADA_METHOD_LORA, 400, 1e-2, 0.6, "lora");
}

/* ---- resume ------------------------------------------------------------- */

static void check_resume(int64_t stop_at)
{
	char *train = in_tmp("resume_train.jsonl");
	char *dir_a = in_tmp("resume-a"), *dir_b = in_tmp("resume-b");
	char *fa = NULL, *fb = NULL;
	struct ada_job job;
	struct ada_result res, res_b;
	struct ada_err err;
	struct stopper st;

	CHECK_OK(tiny_write_reverse(train, 200, 3, 6, 8, 5, 0, &err), &err);
	/* no validation file: the tail of the training file is held out */
	base_job(&job, ADA_METHOD_ADALORA, train, NULL, dir_a);
	job.method.hp.label_smoothing = 0.1;
	job.method.hp.lora_dropout = 0.1;
	job.method.hp.eval_every = 10;
	CHECK_OK(ada_train(&job, &res, &err), &err);
	CHECK_INT_EQ(res.plan.valid_windows, 10);   /* 5% of 200 */

	base_job(&job, ADA_METHOD_ADALORA, train, NULL, dir_b);
	job.method.hp.label_smoothing = 0.1;
	job.method.hp.lora_dropout = 0.1;
	job.method.hp.eval_every = 10;
	stopper_attach(&st, &job, stop_at);
	CHECK_INT_EQ(ada_train(&job, NULL, &err), ADA_ESTOPPED);
	stopper_disarm(&st);
	job.resume = 1;
	CHECK_OK(ada_train(&job, &res_b, &err), &err);
	CHECK_INT_EQ(res_b.steps, 40);
	CHECK(res_b.glue.accuracy == res.glue.accuracy && res_b.valid_loss == res.valid_loss);
	/* validation's decodes (10 held-out examples), before and after */
	CHECK(res.rouge.n == 10 && res_b.rouge.n == 10 && res_b.rouge_initial.n == 10);
	CHECK(res_b.rouge.rougeL.fmeasure == res.rouge.rougeL.fmeasure &&
	      res_b.rouge.rouge2.precision == res.rouge.rouge2.precision &&
	      res_b.rouge_initial.rouge1.recall == res.rouge_initial.rouge1.recall);
	CHECK(res_b.train_loss == res.train_loss);
	fa = path_join(dir_a, "adapter/adapter_model.safetensors");
	fb = path_join(dir_b, "adapter/adapter_model.safetensors");
	CHECK_MSG(files_same(fa, fb), "stopped at %lld: the adapter differs after resume",
		  (long long)stop_at);
	ada_result_release(&res);
	ada_result_release(&res_b);
	remove_tree(dir_a, NULL);
	remove_tree(dir_b, NULL);
	free(fa);
	free(fb);
	free(train);
	free(dir_a);
	free(dir_b);
}

static void test_resume(void)
{
	check_resume(10);   /* before the freeze (step 30) */
	check_resume(30);   /* after it: compacted */
}

/* Label smoothing changes the loss trained on, not what validation reports. */
static void test_label_smoothing(void)
{
	char *train = in_tmp("ls_train.jsonl"), *out = in_tmp("ls_run");
	struct ada_job job;
	struct ada_result plain, smooth;
	struct ada_err err;

	CHECK_OK(tiny_write_reverse(train, 100, 3, 6, 8, 6, 0, &err), &err);
	base_job(&job, ADA_METHOD_LORA, train, NULL, out);
	job.method.hp.max_steps = 1;
	job.method.hp.log_every = 1;
	CHECK_OK(ada_train(&job, &plain, &err), &err);
	job.method.hp.label_smoothing = 0.3;
	CHECK_OK(ada_train(&job, &smooth, &err), &err);
	/* at step 1 the adapters are zero (LoRA's B): the same network, so the
	 * validation loss is the same plain NLL while the training loss is the
	 * smoothed one (its value against the reference: test bart_logits) */
	CHECK(plain.valid_loss_initial == smooth.valid_loss_initial);
	CHECK_MSG(fabs(smooth.train_loss - plain.train_loss) > 1e-3, "smoothed %.4f, plain %.4f",
		  smooth.train_loss, plain.train_loss);
	ada_result_release(&plain);
	ada_result_release(&smooth);
	remove_tree(out, NULL);
	free(train);
	free(out);
}

/* ---- PEFT round trip --------------------------------------------------- */

/* Logits of a fixed batch through net. */
static void logits_of(const struct bart_net *net, float *out, size_t n_out)
{
	enum { B = 2, S = 6, T = 5 };
	const int32_t src[B * S] = { 0, 70, 80, 90, 100, 2, 0, 71, 2, 1, 1, 1 };
	const int32_t len[B] = { 6, 3 };
	const int32_t dec[B * T] = { 2, 0, 263, 264, 265, 2, 0, 270, 1, 1 };
	struct bart_acts a;
	struct nn_step st = { 0 };

	CHECK_OK(bart_acts_init(&a, &net->d, B, S, T, 2), (struct ada_err *)NULL);
	CHECK_OK(bart_forward(net, &a, src, len, dec, NULL, B, 0, 0, NULL, NULL, NULL, &st),
		 (struct ada_err *)NULL);
	memcpy(out, a.logits, sizeof(float) * n_out);
	bart_acts_release(&a);
}

static void check_round_trip(enum ada_method_type t)
{
	const struct net_spec spec = { .task = ADA_TASK_SEQ2SEQ };
	const size_t n = 2 * 5 * TINY_BART_VOCAB;
	struct export_info info = { .base_model = "tiny-bart", .total_steps = 100 };
	struct ada_infer_opts o = { .model = bart_dir };
	struct inference_net loaded;
	struct model *model = NULL;
	struct trained_net tn;
	struct ada_method m;
	struct ada_err err;
	struct rng r;
	char *dir = in_tmp(ada_method_name(t));
	float *want = calloc(n, sizeof(float)), *got = calloc(n, sizeof(float));
	float *base = calloc(n, sizeof(float));
	double maxdiff = 0, moved = 0;

	if (!want || !got || !base)
		abort();
	CHECK_OK(model_load(bart_dir, NULL, &model, &err), &err);
	if (!model)
		goto out;
	ada_method_defaults(t, &m);
	m.hp.init_r = 4;
	m.hp.r = 3;
	CHECK_OK(trained_net_build(&tn, model, &m, &spec, 5, 1, &err), &err);
	logits_of(&tn.bart, base, n);
	rng_seed(&r, 17);
	for (size_t i = 0; i < tn.arena.n; i++)
		tn.arena.w[i] += (float)(0.2 * rng_normal(&r));
	logits_of(&tn.bart, want, n);
	CHECK_OK(export_peft(&tn, &info, dir, &err), &err);
	o.adapter = dir;
	CHECK_OK(inference_net_open(&loaded, &o, &err), &err);
	if (loaded.model) {
		CHECK(loaded.adapter.seq2seq);
		CHECK_INT_EQ(loaded.adapter.n_mods, 32);
		logits_of(&loaded.bart, got, n);
		for (size_t i = 0; i < n; i++) {
			maxdiff = fmax(maxdiff, fabs((double)want[i] - got[i]));
			moved = fmax(moved, fabs((double)want[i] - base[i]));
		}
		CHECK_MSG(maxdiff < 1e-5, "%s: logits differ by %g after export/import",
			  ada_method_name(t), maxdiff);
		CHECK_MSG(moved > 1e-2, "%s: the adapter moved the logits by %g only",
			  ada_method_name(t), moved);
		inference_net_close(&loaded);
	}
	trained_net_release(&tn);
out:
	model_free(model);
	free(want);
	free(got);
	free(base);
	free(dir);
}

static void test_peft_round_trip(void)
{
	check_round_trip(ADA_METHOD_ADALORA);
	check_round_trip(ADA_METHOD_LORA);
	check_round_trip(ADA_METHOD_LORA_PRUNE);
}

/* What PEFT's BART finds: SEQ_2_SEQ_LM, the module paths of both stacks. */
static void test_peft_layout(void)
{
	char *dir = in_tmp("adalora"), *cfg_path = path_join(dir, "adapter_config.json");
	char *w_path = path_join(dir, "adapter_model.safetensors");
	struct safetensors *st = NULL;
	struct ada_err err;
	json_t *cfg;

	check_round_trip(ADA_METHOD_ADALORA);   /* writes it */
	cfg = json_load_file(cfg_path, 0, NULL);
	CHECK(cfg != NULL);
	if (cfg) {
		const json_t *tm = json_object_get(cfg, "target_modules");
		const char *want[] = { "q_proj", "k_proj", "v_proj", "out_proj", "fc1", "fc2" };

		CHECK_STR_EQ(json_string_value(json_object_get(cfg, "task_type")), "SEQ_2_SEQ_LM");
		CHECK_STR_EQ(json_string_value(json_object_get(cfg, "peft_type")), "ADALORA");
		CHECK_INT_EQ(json_array_size(tm), 6);
		for (size_t i = 0; i < 6 && i < json_array_size(tm); i++)
			CHECK_STR_EQ(json_string_value(json_array_get(tm, i)), want[i]);
		CHECK(json_object_get(json_object_get(cfg, "rank_pattern"),
				      "model.decoder.layers.1.encoder_attn.k_proj.lora_E") != NULL);
		CHECK(json_object_get(json_object_get(cfg, "rank_pattern"),
				      "model.encoder.layers.0.fc2.lora_E") != NULL);
		CHECK_INT_EQ(json_object_size(json_object_get(cfg, "rank_pattern")), 32);
		json_decref(cfg);
	}
	CHECK_OK(safetensors_open(w_path, &st, &err), &err);
	if (st) {
		CHECK(safetensors_find(st, "base_model.model.model.encoder.layers.1.self_attn.out_proj.lora_A"));
		CHECK(safetensors_find(st, "base_model.model.model.decoder.layers.0.encoder_attn.q_proj.lora_B"));
		CHECK(safetensors_find(st, "base_model.model.model.decoder.layers.0.fc1.lora_E"));
		CHECK(!safetensors_find(st, "base_model.model.model.encoder.layers.0.encoder_attn.q_proj.lora_A"));
		CHECK_INT_EQ(st->n_tensors, 32 * 3);
		safetensors_close(st);
	}
	free(dir);
	free(cfg_path);
	free(w_path);
}

/* ---- bench -------------------------------------------------------------- */

/* `adalora bench` on an encoder-decoder: training steps, and generation
 * (greedy and beam-3) with and without the cache (figures not asserted:
 * only that they are). */
static void test_bench(void)
{
	struct ada_bench_opts o = { .model = bart_dir, .method = ADA_METHOD_ADALORA, .batch = 2,
				    .seq = 20, .target_seq = 8, .gen_tokens = 12, .steps = 2,
				    .warmup = 1, .threads = 2 };
	struct ada_bench_result res;
	struct ada_err err;

	CHECK_OK(ada_bench(&o, &res, &err), &err);
	CHECK(res.tokens_per_s > 0 && res.flops_per_step > 0);
	CHECK_INT_EQ(res.gen_tokens, 12);
	CHECK(res.gen_tokens_per_s_cached > 0 && res.gen_tokens_per_s_uncached > 0);
	CHECK(res.trainable_params > 0 && res.activation_bytes > 0);
	CHECK(isfinite(res.final_loss));
	CHECK_INT_EQ(res.num_beams, 1);
	/* beam search of 3, with and without the cache */
	o.num_beams = 3;
	CHECK_OK(ada_bench(&o, &res, &err), &err);
	CHECK_INT_EQ(res.num_beams, 3);
	CHECK(res.gen_tokens_per_s_cached > 0 && res.gen_tokens_per_s_uncached > 0);
	o.num_beams = 0;
	o.seq = 70;   /* past the tiny BART's 64 positions */
	CHECK_INT_EQ(ada_bench(&o, &res, &err), ADA_EINVAL);
}

/* ---- errors ------------------------------------------------------------- */

static void expect_job_error(struct ada_job *job, int code, const char *param)
{
	struct ada_err err;
	struct ada_plan plan;

	CHECK_INT_EQ(ada_job_plan(job, &plan, &err), code);
	CHECK_STR_EQ(err.param, param);
}

static void test_errors(void)
{
	char *train = in_tmp("err_train.jsonl"), *out = in_tmp("err_run");
	char *llama = in_tmp("llama.gguf");
	struct ada_job job;
	struct ada_err err;

	CHECK_OK(tiny_write_reverse(train, 30, 2, 4, 5, 3, 0, &err), &err);
	CHECK_OK(ada_create_model("tiny", 1, llama, &err), &err);
	base_job(&job, ADA_METHOD_ADALORA, train, NULL, out);
	job.task = ADA_TASK_CAUSAL_LM;
	expect_job_error(&job, ADA_EINVAL, "task");
	job.task = ADA_TASK_CLASSIFICATION;
	expect_job_error(&job, ADA_EINVAL, "task");
	job.task = ADA_TASK_SEQ2SEQ;
	job.model = llama;
	expect_job_error(&job, ADA_EINVAL, "task");
	base_job(&job, ADA_METHOD_FULL, train, NULL, out);
	expect_job_error(&job, ADA_EUNSUPPORTED, "method.type");
	base_job(&job, ADA_METHOD_BITFIT, train, NULL, out);
	expect_job_error(&job, ADA_EUNSUPPORTED, "method.type");
	base_job(&job, ADA_METHOD_LORA, train, NULL, out);
	job.method.hp.max_source_length = 65;   /* the tiny BART's context is 64 */
	expect_job_error(&job, ADA_EINVAL, "method.lora.hyperparameters.max_source_length");
	job.method.hp.max_source_length = 0;
	job.method.hp.max_target_length = 2;    /* no room beside <s> and </s> */
	expect_job_error(&job, ADA_EINVAL, "method.lora.hyperparameters.max_target_length");
	job.method.hp.max_target_length = 0;
	job.method.hp.generation_max_length = 66;   /* 65 positions generated */
	expect_job_error(&job, ADA_EINVAL, "method.lora.hyperparameters.generation_max_length");
	job.method.hp.generation_max_length = 65;
	{
		struct ada_plan plan;
		CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
	}
	job.method.hp.generation_max_length = 0;
	job.method.hp.gradient_checkpointing = 1;
	expect_job_error(&job, ADA_EINVAL, "method.lora.hyperparameters.gradient_checkpointing");
	/* the model's own generation settings, wrong: the job names the model */
	{
		char *bad = in_tmp("bart-bad-gen");
		struct model_config cfg;
		struct model *m = NULL;
		json_t *extra = json_pack("{s:s}", "num_beams", "four");
		struct tiny_bart_opts to = { .config_extra = extra };

		tiny_bart_config(&cfg);
		CHECK_OK(tiny_bart_random(&cfg, 3, &m) ? ada_fail(&err, ADA_ENOMEM, "oom") : ADA_OK,
			 &err);
		CHECK_OK(tiny_write_bart_hf(m, bad, &to, &err), &err);
		base_job(&job, ADA_METHOD_LORA, train, NULL, out);
		job.model = bad;
		expect_job_error(&job, ADA_EINVAL, "model");
		/* unless validation does not decode */
		job.method.hp.valid_generate_examples = 0;
		{
			struct ada_plan plan;
			CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
		}
		model_free(m);
		json_decref(extra);
		free(bad);
	}
	/* seq_len does not apply to an encoder-decoder: the default 256 is no error */
	base_job(&job, ADA_METHOD_LORA, train, NULL, out);
	job.method.hp.seq_len = 256;
	{
		struct ada_plan plan;
		CHECK_OK(ada_job_plan(&job, &plan, &err), &err);
		CHECK_INT_EQ(plan.task, ADA_TASK_SEQ2SEQ);
		CHECK_INT_EQ(plan.n_matrices, 32);
	}
	free(train);
	free(out);
	free(llama);
}

int main(void)
{
	struct ada_err err;
	char *d;

	tmp = check_tmpdir("seq2seq");
	d = path_join(tmp, "bart");
	snprintf(bart_dir, sizeof(bart_dir), "%s", d);
	free(d);
	if (tiny_make_bart(bart_dir, 3, &err)) {
		fprintf(stderr, "%s\n", err.msg);
		return 1;
	}
	RUN(test_data_shapes);
	RUN(test_hparams);
	RUN(test_dataset);
	RUN(test_adalora_learns);
	RUN(test_lora_learns);
	RUN(test_resume);
	RUN(test_label_smoothing);
	RUN(test_peft_round_trip);
	RUN(test_peft_layout);
	RUN(test_bench);
	RUN(test_errors);
	remove_tree(tmp, NULL);
	free(tmp);
	return check_summary();
}
