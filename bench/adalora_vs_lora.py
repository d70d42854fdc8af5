#!/usr/bin/env python3
"""AdaLoRA against LoRA at the same final number of trainable parameters
(the paper's comparison, on the models and data this machine has).

stories260K fine-tuned on tinyshakespeare: AdaLoRA init_r 12 -> target_r 4 on
all seven modules of every layer; then LoRA on the same modules with the rank
whose parameter count is closest to AdaLoRA's final (kept) count. Both see the
same steps, batches and held-out tail. Prints a markdown report: held-out loss
before/after, parameters, wall time, and AdaLoRA's final rank heatmap
(layers x modules).

usage: bench/adalora_vs_lora.py [--adalora BUILD/cli/adalora] [--assets ../shared/assets]
                                [--steps 600] [--out DIR]
"""
import argparse, json, os, subprocess, sys, tempfile, time

MODULES = ["q", "k", "v", "o", "gate", "up", "down"]


def module_shapes(dim=64, hidden=172, n_heads=8, n_kv=4):
    hd = dim // n_heads
    q, kv = n_heads * hd, n_kv * hd
    return {"q": (q, dim), "k": (kv, dim), "v": (kv, dim), "o": (dim, q),
            "gate": (hidden, dim), "up": (hidden, dim), "down": (dim, hidden)}


def train(binary, cfg, out):
    """Run `adalora train` on cfg in out; its result.json plus wall_seconds."""
    os.makedirs(out, exist_ok=True)
    path = os.path.join(out, "job.json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    t0 = time.time()
    p = subprocess.run([binary, "train", path, "--out", out, "--quiet"], capture_output=True, text=True)
    if p.returncode:
        sys.exit("train failed: " + p.stderr[-2000:])
    with open(os.path.join(out, "result.json")) as f:
        res = json.load(f)
    res["wall_seconds"] = time.time() - t0
    return res


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    here = os.path.dirname(os.path.abspath(__file__))
    ap.add_argument("--adalora", default=os.path.join(here, "..", "build", "cli", "adalora"))
    ap.add_argument("--assets", default=os.path.join(here, "..", "..", "shared", "assets"))
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--out", default=None)
    a = ap.parse_args()
    out = a.out or tempfile.mkdtemp(prefix="adalora-vs-lora-")
    model = os.path.abspath(os.path.join(a.assets, "models", "stories260K", "stories260K.gguf"))
    data = os.path.abspath(os.path.join(a.assets, "data", "text", "tinyshakespeare", "input.txt"))
    common = {"max_steps": a.steps, "batch_size": 8, "seq_len": 128, "learning_rate": 5e-3,
              "warmup_steps": 20, "valid_fraction": 0.1, "log_every": 50, "checkpoint_every": 0,
              "lora_alpha": 16}
    ada_hp = dict(common, init_r=12, target_r=4, tinit=a.steps // 10, tfinal=a.steps // 4, deltaT=10,
                  orth_reg_weight=0.1)
    ada_dir = os.path.join(out, "adalora")
    os.makedirs(ada_dir, exist_ok=True)
    ada = train(a.adalora, {"model": model, "train_file": data, "seed": 1,
                            "method": {"type": "adalora", "adalora": {"hyperparameters": ada_hp}}}, ada_dir)
    shapes = module_shapes()
    ranks = ada["final_ranks"]
    kept_params = sum(r * (shapes[m][0] + shapes[m][1] + 1)
                      for row in ranks for m, r in zip(MODULES, row))
    per_rank = len(ranks) * sum(o + i for o, i in shapes.values())
    lora_r = max(1, round(kept_params / per_rank))
    lora_dir = os.path.join(out, "lora")
    os.makedirs(lora_dir, exist_ok=True)
    lora = train(a.adalora, {"model": model, "train_file": data, "seed": 1,
                             "method": {"type": "lora", "lora": {"hyperparameters": dict(common, r=lora_r)}}},
                 lora_dir)
    print("| method | final trainable params | held-out loss before | after | wall time |")
    print("|---|---|---|---|---|")
    print("| AdaLoRA 12 -> 4 (b(T) = %d triplets) | %d (kept) | %.4f | %.4f | %.0f s |" % (
        ada["budget"]["target"], kept_params, ada["valid_loss_initial"], ada["valid_loss"], ada["wall_seconds"]))
    print("| LoRA r = %d | %d | %.4f | %.4f | %.0f s |" % (
        lora_r, lora["trainable_params"], lora["valid_loss_initial"], lora["valid_loss"], lora["wall_seconds"]))
    print("\nAdaLoRA final ranks (kept triplets of 12), layers x modules:\n")
    print("| layer | " + " | ".join(MODULES) + " | sum |")
    print("|---|" + "---|" * (len(MODULES) + 1))
    for l, row in enumerate(ranks):
        print("| %d | %s | %d |" % (l, " | ".join(str(r) for r in row), sum(row)))
    print("| sum | %s | %d |" % (" | ".join(str(sum(r[m] for r in ranks)) for m in range(len(MODULES))),
                                 sum(map(sum, ranks))))
    print("\n(outputs in %s)" % out)


if __name__ == "__main__":
    main()
