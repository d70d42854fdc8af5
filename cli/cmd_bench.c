/*
 * cmd_bench — `adalora bench --model PATH|--shape NAME --method M [--batch B]
 * [--seq S] [--steps K] [--threads N] [--gradient-checkpointing] [--dtype T]`: one
 * JSON line with the fields of ../shared/bench/torch_reference.py's, so compare.py can read both. An
 * encoder (bert-base, deberta-v3-base, a BERT-family directory) times a
 * classifier's steps.
 *
 * An encoder-decoder (--shape bart-base|bart-large, or a BART directory):
 * --seq is the source length (default 512 there), --target-seq the
 * target's (64); tokens_per_s counts source and target tokens; the line
 * adds "target_seq", "gen_tokens", "num_beams" and generation's tokens/s
 * (greedy, or beam search of --num-beams) with and without the KV cache
 * ("gen_tokens_per_s_cached", "…_uncached").
 */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "args.h"
#include "commands.h"
#include "dist.h"
#include "adalora.h"

static const char usage[] =
	"usage: adalora bench --model PATH|--shape NAME --method adalora|lora|full\n"
	"                     [--batch B] [--seq S] [--steps K] [--warmup W] [--threads N]\n"
	"                     [--rank R]   (LoRA r / AdaLoRA init_r; default 8 / 12 as the peer)\n"
	"                     [--gradient-checkpointing]\n"
	"                     [--compute-dtype auto|fp32|bf16]   (auto: bf16 with AVX512-BF16)\n"
	"                     [--dtype T]  (with --shape alone: the random base stored as T,\n"
	"                                   e.g. BF16, Q4_K, Q4_K_M; a file in $TMPDIR)\n"
	"       --model PATH --shape NAME: the file, checked to have that shape\n"
	"       (BART)        [--target-seq T] [--gen-tokens G] [--num-beams N]\n"
	"  encoders (a BERT-family --model, --shape bert-base or deberta-v3-base) time a\n"
	"  two-class classifier's steps\n"
	"       mpirun -np N adalora bench ...   (data-parallel: the batch split among N processes,\n"
	"                     with allreduce_ms_per_step and allreduce_bytes_per_step)\n";

int cmd_bench(int argc, char **argv)
{
	struct ada_bench_opts o = { .batch = 4, .seq = 0, .steps = 10, .warmup = 2 };
	struct ada_model_info info;
	int bart;
	const char *method = NULL, *compute = "auto", *pos[1];
	int n_pos, rc;
	struct cli_opt opts[] = {
		{ "--model", NULL, OPT_STRING, &o.model, 0 },
		{ "--shape", NULL, OPT_STRING, &o.shape, 0 },
		{ "--method", NULL, OPT_STRING, &method, 0 },
		{ "--batch", NULL, OPT_INT, &o.batch, 0 },
		{ "--seq", NULL, OPT_INT, &o.seq, 0 },
		{ "--steps", NULL, OPT_INT, &o.steps, 0 },
		{ "--warmup", NULL, OPT_INT, &o.warmup, 0 },
		{ "--threads", NULL, OPT_INT, &o.threads, 0 },
		{ "--rank", NULL, OPT_INT, &o.rank, 0 },
		{ "--gradient-checkpointing", NULL, OPT_FLAG, &o.gradient_checkpointing, 0 },
		{ "--target-seq", NULL, OPT_INT, &o.target_seq, 0 },
		{ "--gen-tokens", NULL, OPT_INT, &o.gen_tokens, 0 },
		{ "--dtype", NULL, OPT_STRING, &o.dtype, 0 },
		{ "--compute-dtype", NULL, OPT_STRING, &compute, 0 },
		{ "--num-beams", NULL, OPT_INT, &o.num_beams, 0 },   /* last: see below */
	};
	struct ada_bench_result res;
	struct ada_err err = { 0 };
	struct dist dist;
	json_t *j;

	if ((rc = cli_parse("bench", usage, argc, argv, opts, (int)(sizeof(opts) / sizeof(opts[0])),
			    pos, 0, &n_pos)))
		return cli_exit_code(rc);
	if (!o.model && !o.shape)
		return cli_fail("bench", EXIT_USAGE, "give --model or --shape\n%s", usage);
	if (o.model && o.dtype)
		return cli_fail("bench", EXIT_USAGE, "--dtype makes a random base: give --shape without --model\n%s",
				usage);
	if (!method || (strcmp(method, "adalora") && strcmp(method, "lora") && strcmp(method, "full")))
		return cli_fail("bench", EXIT_USAGE, "--method must be adalora, lora or full\n%s", usage);
	bart = o.shape ? !strncmp(o.shape, "bart-", 5)
		       : !ada_model_probe(o.model, &info, &err) && info.family == ADA_FAMILY_BART;
	if (!o.seq)
		o.seq = bart ? 512 : 256;
	if (o.target_seq < 0 || o.gen_tokens < 0)
		return cli_fail("bench", EXIT_USAGE, "--target-seq and --gen-tokens must be >= 1");
	if (opts[sizeof(opts) / sizeof(opts[0]) - 1].seen &&   /* --num-beams */
	    (o.num_beams < 1 || o.num_beams > 256 || !bart))
		return cli_fail("bench", EXIT_USAGE,
				"--num-beams (1 to 256) times an encoder-decoder's (BART) generation");
	if (o.batch < 1 || o.seq < 2 || o.steps < 1 || o.warmup < 0 || o.threads < 0 || o.rank < 0)
		return cli_fail("bench", EXIT_USAGE, "--batch, --steps >= 1, --seq >= 2, --warmup >= 0");
	if (!strcmp(compute, "fp32"))
		o.compute_dtype = ADA_COMPUTE_FP32;
	else if (!strcmp(compute, "bf16"))
		o.compute_dtype = ADA_COMPUTE_BF16;
	else if (!strcmp(compute, "auto"))
		o.compute_dtype = ADA_COMPUTE_AUTO;
	else
		return cli_fail("bench", EXIT_USAGE, "--compute-dtype must be auto, fp32 or bf16\n%s",
				usage);
	o.method = !strcmp(method, "adalora") ? ADA_METHOD_ADALORA :
		   !strcmp(method, "lora") ? ADA_METHOD_LORA : ADA_METHOD_FULL;
	if (dist_start(&dist, &argc, &argv, &err))
		return cli_fail("bench", EXIT_RUNTIME, "%s", err.msg);
	if (!o.threads)
		o.threads = dist_default_threads(&dist);
	if (o.threads)
		ada_set_threads(o.threads);
	o.parallel = dist.size > 1 ? &dist.par : NULL;
	rc = ada_bench(&o, &res, &err);
	if (rc)
		return cli_fail("bench", rc == ADA_EINVAL ? EXIT_USAGE : EXIT_RUNTIME, "%s", err.msg);
	if (dist.rank) {
		dist_finish(&dist);
		return 0;   /* process 0 reports */
	}
	j = json_pack("{ss ss ss ss ss ss si si si sI sf sf sf sf sf sf sb sI sf}",
		      "impl", "adalora 0.1.0", "kernel", ada_blas_kernel(), "config", res.config,
		      "dtype", res.dtype, "compute_dtype", res.compute_dtype, "method", method,
		      "batch", o.batch, "seq", o.seq, "threads", res.threads,
		      "trainable_params", (json_int_t)res.trainable_params,
		      "ms_per_step_median", res.ms_per_step_median,
		      "tokens_per_s", res.tokens_per_s, "gflops_per_s", res.gflops_per_s,
		      "flops_per_step", res.flops_per_step, "final_loss", res.final_loss,
		      "peak_rss_mb", res.peak_rss_mb,
		      "gradient_checkpointing", o.gradient_checkpointing,
		      "activation_bytes", (json_int_t)res.activation_bytes,
		      "activation_bytes_per_token",
		      (double)res.activation_bytes / ((double)o.batch * o.seq));
	/* data-parallel: the whole batch's tokens per second; what the sums cost
	 * (waiting for the slowest process included), over every step run */
	json_object_set_new(j, "processes", json_integer(dist.size));
	if (dist.size > 1 && dist.reduces) {
		json_object_set_new(j, "allreduce_ms_per_step",
				    json_real(1e3 * dist.reduce_seconds / (double)dist.reduces));
		json_object_set_new(j, "allreduce_bytes_per_step", json_real(dist.reduce_bytes));
	}
	if (bart) {
		json_object_set_new(j, "target_seq", json_integer(o.target_seq ? o.target_seq : 64));
		json_object_set_new(j, "gen_tokens", json_integer(res.gen_tokens));
		json_object_set_new(j, "num_beams", json_integer(res.num_beams));
		json_object_set_new(j, "gen_tokens_per_s_cached", json_real(res.gen_tokens_per_s_cached));
		json_object_set_new(j, "gen_tokens_per_s_uncached",
				    json_real(res.gen_tokens_per_s_uncached));
		json_object_set_new(j, "activation_bytes_per_token",
				    json_real((double)res.activation_bytes /
					      ((double)o.batch * (o.seq + (o.target_seq ? o.target_seq : 64)))));
	}
	json_dumpf(j, stdout, JSON_COMPACT | JSON_REAL_PRECISION(6));
	fputc('\n', stdout);
	json_decref(j);
	dist_finish(&dist);
	return 0;
}
