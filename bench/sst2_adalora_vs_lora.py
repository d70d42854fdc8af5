#!/usr/bin/env python3
"""AdaLoRA against LoRA at the same final budget on GLUE SST-2 (the paper's
comparison, on the model and data this machine has).

stories260K (Llama, 260K parameters, pretrained on TinyStories) with a
classification head (LlamaForSequenceClassification's `score`, last-token
pooling), fine-tuned on the first --rows rows of SST-2's training set and
scored on the whole dev set (872 sentences; the majority class is 50.9%).
AdaLoRA starts every one of the 35 matrices (5 layers x 7 modules) at
init_r 12 and ends at an average of target_r 4 (b(T) = 140 triplets); LoRA
then gets the rank r whose trainable parameters are closest to AdaLoRA's
final (kept) count. The head trains in both. All see the same steps,
batches and learning rate, for each seed. LoRA runs twice: with AdaLoRA's
lora_alpha (PEFT scales by alpha / r, so a small r is scaled up: 32 / 4 =
8) and with AdaLoRA's scale (alpha = 32 * r / 12, PEFT's AdaLoRA scaling
alpha / init_r).

Prints a markdown report: dev accuracy, F1 and MCC per seed and their mean,
trainable parameters, wall time, and AdaLoRA's final rank heatmap (layers x
modules, seed of the first run).

usage: bench/sst2_adalora_vs_lora.py [--adalora BUILD/cli/adalora] [--assets ../shared/assets]
                                     [--rows 20000] [--steps 1500] [--seeds 1,2,3] [--out DIR]
"""
import argparse, os, statistics, tempfile

# stories260K's module table and the CLI runner are the LM comparison's.
from adalora_vs_lora import MODULES, module_shapes, train

SHADES = " .:-=+*#%@"


def head_rows(src, dst, n):
    with open(src) as f, open(dst, "w") as g:
        for i, line in enumerate(f):
            if i > n:
                break
            g.write(line)


def fmt(v):
    return "n/a" if v is None else "%.4f" % v


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--adalora", default=os.path.join(here, "..", "build", "cli", "adalora"))
    ap.add_argument("--assets", default=os.path.join(here, "..", "..", "shared", "assets"))
    ap.add_argument("--rows", type=int, default=20000)
    ap.add_argument("--steps", type=int, default=1500)
    ap.add_argument("--seeds", default="1,2,3")
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="sst2-adalora-vs-lora-")
    os.makedirs(out, exist_ok=True)
    model = os.path.abspath(os.path.join(a.assets, "models", "stories260K", "stories260K.gguf"))
    glue = os.path.abspath(os.path.join(a.assets, "data", "glue", "SST-2"))
    train_file = os.path.join(out, "train%d.tsv" % a.rows)
    head_rows(os.path.join(glue, "train.tsv"), train_file, a.rows)
    seeds = [int(s) for s in a.seeds.split(",")]
    common = {"max_steps": a.steps, "batch_size": 16, "seq_len": 64, "learning_rate": 3e-3,
              "warmup_steps": 50, "log_every": 100, "checkpoint_every": 0, "lora_alpha": 32}
    ada_hp = dict(common, init_r=12, target_r=4, tinit=a.steps // 5, tfinal=a.steps // 5, deltaT=10,
                  orth_reg_weight=0.1)
    job = {"model": model, "train_file": train_file, "valid_file": os.path.join(glue, "dev.tsv")}

    shapes = module_shapes()
    ada_runs, lora_runs, lora_scaled, lora_r = [], [], [], None
    for seed in seeds:
        ada = train(a.adalora, dict(job, seed=seed, method={"type": "adalora",
                    "adalora": {"hyperparameters": ada_hp}}), os.path.join(out, "adalora-%d" % seed))
        ranks = ada["final_ranks"]
        ada["kept_params"] = sum(r * (shapes[m][0] + shapes[m][1] + 1)
                                 for row in ranks for m, r in zip(MODULES, row))
        ada_runs.append(ada)
        if lora_r is None:
            per_rank = len(ranks) * sum(o + i for o, i in shapes.values())
            lora_r = max(1, round(ada["kept_params"] / per_rank))
        lora_runs.append(train(a.adalora, dict(job, seed=seed, method={"type": "lora",
                               "lora": {"hyperparameters": dict(common, r=lora_r)}}),
                               os.path.join(out, "lora-%d" % seed)))
        scaled = dict(common, r=lora_r, lora_alpha=common["lora_alpha"] * lora_r / 12.0)
        lora_scaled.append(train(a.adalora, dict(job, seed=seed, method={"type": "lora",
                                 "lora": {"hyperparameters": scaled}}),
                                 os.path.join(out, "lora-scaled-%d" % seed)))

    head = 64 * 2
    print("SST-2 dev (872 sentences, majority 50.9%%): stories260K + classification head, "
          "first %d training rows, %d steps of 16 at seq_len 64, lr 3e-3, seeds %s. "
          "An n/a MCC is a constant prediction.\n" % (a.rows, a.steps, a.seeds))
    print("| method | adapter params at the end (+ head %d) | seed | dev accuracy | F1 | MCC | wall time |" % head)
    print("|---|---|---|---|---|---|---|")
    for ada, seed in zip(ada_runs, seeds):
        m = ada["metrics"]
        print("| AdaLoRA 12 -> 4 (b(T) = %d) | %d (kept) | %d | %s | %s | %s | %.0f s |" % (
            ada["budget"]["target"], ada["kept_params"], seed, fmt(m["accuracy"]), fmt(m["f1"]),
            fmt(m["mcc"]), ada["wall_seconds"]))
    for label, runs in (("alpha 32", lora_runs), ("alpha %.3g" % (32 * lora_r / 12.0), lora_scaled)):
        for lora, seed in zip(runs, seeds):
            m = lora["metrics"]
            print("| LoRA r = %d, %s | %d | %d | %s | %s | %s | %.0f s |" % (
                lora_r, label, lora["trainable_params"] - head, seed, fmt(m["accuracy"]),
                fmt(m["f1"]), fmt(m["mcc"]), lora["wall_seconds"]))
    for name, runs in (("AdaLoRA", ada_runs), ("LoRA, alpha 32", lora_runs),
                       ("LoRA, AdaLoRA's scale", lora_scaled)):
        acc = [r["metrics"]["accuracy"] for r in runs]
        mcc = [r["metrics"]["mcc"] or 0.0 for r in runs]
        print("| **%s mean** | | | **%.4f** (min %.4f, max %.4f) | | **%.4f** | |" % (
            name, statistics.mean(acc), min(acc), max(acc), statistics.mean(mcc)))

    ranks = ada_runs[0]["final_ranks"]
    print("\nAdaLoRA final ranks (kept triplets of 12; seed %d), layers x modules:\n" % seeds[0])
    print("| layer | " + " | ".join(MODULES) + " | sum | heat |")
    print("|---|" + "---|" * (len(MODULES) + 2))
    for l, row in enumerate(ranks):
        heat = "".join(SHADES[min(len(SHADES) - 1, r * (len(SHADES) - 1) // 12)] for r in row)
        print("| %d | %s | %d | `%s` |" % (l, " | ".join(str(r) for r in row), sum(row), heat))
    print("| sum | %s | %d | |" % (" | ".join(str(sum(r[m] for r in ranks)) for m in range(len(MODULES))),
                                   sum(map(sum, ranks))))
    print("\n(outputs in %s)" % out)


if __name__ == "__main__":
    main()
