#!/usr/bin/env python3
"""Writes docs/models.md and docs/models/*.svg from models/ with the archc binary.

    python3 docs/gallery.py [--archc target/release/archc] [--compare] [--check]

Every number in the model sections is printed by `archc build` or `archc diff` when this
runs; the experiment's tables are `archc compare`'s own output, kept from the last
`--compare` run (each starts with its command line); nothing is typed in by hand. `--compare` also runs the two experiments (`archc compare`,
minutes on a 2-core CPU) and writes their tables and curves; without it the last written
results (docs/models/compare-*.md) are kept. `--check` writes nothing and exits 1 if
docs/models.md or a picture differs from what the files give now (cli/tests/models.rs);
it does not re-run the experiments.
"""
import argparse
import pathlib
import re
import shutil
import subprocess
import sys
import tempfile

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"
PICS = DOCS / "models"

# (file stem, what it is, its baseline for the diff or None)
MODELS = [
    ("gpt2-small", "GPT-2 small, the published 124M model.", None),
    ("gpt2-tiny", "GPT-2 scaled down to d = 64 and 2 layers, for CPU tests and the README's first command.", None),
    ("llama2-7b", "Llama-2-7B: RMSNorm, RoPE, SwiGLU, untied head.", None),
    ("multi-layer-heads", "The seeds' multi-layer language head at Llama-2-7B sizes: the text head owns the last block, the text stem the first (1 + 30 + 1 = Llama-2-7B's 32), and a VQ-code head reads the trunk, not the text head's latent. Its baseline is Llama-2-7B, whose sizes and blocks it has (against GPT-2 small the diff would be mostly size changes).", "llama2-7b"),
    ("chameleon-7b", "Chameleon-style early fusion: one trunk for text and VQ image tokens, QK-norm and swin norm; needs its explicit allow (image generation reads the text head's output latent).", None),
    ("janus-pro-1b", "Janus-Pro-1B: SigLIP-L features through a two-layer MLP adaptor, a 16384-code VQ stem, 24 layers; its generation head reads the text head's output latent (explicit allow).", None),
    ("perfect-vlm", "The seeds' perfect VLM: split late, merge early (every stem and head owns a block), a bidirectional image span, masked SigLIP-feature denoising shifted by one.", "janus-pro-1b"),
    ("perfect-vlm-tiny", "The perfect VLM at smoke sizes plus the seeds' entropy-gated latent loop: the model the generated code is tested on.", None),
    ("perfect-vlm-no-denoise", "An ablation, not a design: the perfect VLM without its SigLIP-denoising objective (no `siglip` head, no image mask tokens), to tell the architecture's effect from the objective's in the experiment below.", "perfect-vlm"),
    ("perfect-vlm-multires", "The perfect VLM's multi-resolution variant: a SigLIP pyramid under a `scales` mask, masked 0-100%, with a MAR diffusion head.", "perfect-vlm"),
    ("coconut-gpt2", "COCONUT on GPT-2 small: the last hidden state fed back as the next input embedding (output to input, shifted by one); needs its explicit allow.", None),
    ("latent-loop", "The seeds' latent loop: from before the last block to after the first, gated by the text head's entropy; the output latent stays for language.", "coconut-gpt2"),
    ("huginn-3.5b", "Huginn recurrent depth: prelude 2, core 4 looped a mean of 32 times with concat-linear injection, coda 2.", None),
    ("gpt-bert", "GPT-BERT at its BabyLM sizes: `mntp` keeps round(b/16) sequences of each batch of b causal and trains the rest as masked next-token prediction (bidirectional, scored on the masked tokens); LTG-BERT's relative attention and the mask-rate schedule are approximated (see the file).", None),
    ("meap", "MEAP: a Llama-style LM whose inputs are partly replaced by a mask token while it keeps next-token prediction.", None),
    ("var", "VAR-d16, next-scale prediction over its 680 multi-scale codes (scales 1..16): a `next_scale` stem (each scale fed the scales before it, as VAR's teacher forcing) under VAR's `scales` mask; no class conditioning or AdaLN (see the file).", None),
    ("mae", "MAE: a ViT-B/16 encoder over 75%-masked patches and an 8-block decoder head regressing the pixels of the masked ones.", None),
]

# (name, [baseline, design, ...]): all at their smoke scale with `layers = 4`, so the text path
# is 4 blocks deep in each (the seeds' designs spend 2 of their 4 on a stem and a head).
EXPERIMENTS = [
    ("janus-vs-perfect-vlm", ["janus-pro-1b", "perfect-vlm", "perfect-vlm-no-denoise"]),
    ("coconut-vs-latent-loop", ["coconut-gpt2", "latent-loop"]),
]
# The task's first form (docs/data.md): shuffled facts, one query `? x k = y` of up to 3
# hops, which the looped and multi-stem designs are compared on.
COMPARE = ["--smoke", "--set", "layers=4", "--batch", "8", "--data", "synthetic:order=shuffled,form=equals,queries=1,hops=3"]

ANSI = re.compile(r"\x1b\[[0-9;]*m")


def run(archc, *args):
    p = subprocess.run([archc, *args], cwd=ROOT, capture_output=True, text=True)
    if p.returncode not in (0, 1) or (p.returncode == 1 and args[0] != "diff"):
        sys.exit(f"archc {' '.join(args)} failed ({p.returncode}):\n{p.stderr}")
    return ANSI.sub("", p.stdout)


def costs(text):
    """The summary lines of `archc build`: parameters, FLOPs per token, depth."""
    params = text.splitlines()[0]
    flops = [l.strip() for l in text.splitlines() if l.startswith("per `")]
    return params, flops


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--archc", default=str(ROOT / "target/release/archc"))
    ap.add_argument("--compare", action="store_true")
    ap.add_argument("--steps", default="1000")
    ap.add_argument("--check", action="store_true")
    args = ap.parse_args()
    if args.check and args.compare:
        sys.exit("--check and --compare exclude each other")
    PICS.mkdir(exist_ok=True)
    written = {}  # path -> bytes
    out = ["# The models\n",
           "Every file in models/, with its picture (`archc build`), parameters, FLOPs per token and",
           "effective depth at its full size, and the diff against its baseline (`archc diff`).",
           "Generated by `python3 docs/gallery.py` from the files; each file's header says where its",
           "numbers come from and what the language cannot express. The experiment the seeds",
           "propose is at the end.\n"]
    for stem, what, base in MODELS:
        f = f"models/{stem}.arch"
        with tempfile.TemporaryDirectory() as tmp:
            text = run(args.archc, "build", f, "-o", tmp)
            written[PICS / f"{stem}.svg"] = (pathlib.Path(tmp) / "graph.svg").read_bytes()
        params, flops = costs(text)
        out.append(f"## {stem}\n")
        out.append(f"{what} ([`{f}`](../{f}))\n")
        out.append(f"![{stem}](models/{stem}.svg)\n")
        out.append("```text")
        out.append(params)
        out.extend(flops)
        out.append("```\n")
        if base:
            diff = run(args.archc, "diff", f"models/{base}.arch", f)
            out.append(f"Against `{base}` (`archc diff models/{base}.arch {f}`):\n")
            out.append("```text")
            out.append(diff.rstrip())
            out.append("```\n")
    out.append("## The experiment: `archc compare`\n")
    out.append("Each group trained on the same built-in multimodal task (docs/data.md) in its first, multi-hop form, seed and token")
    out.append("budget at the files' smoke scales on this 2-core CPU, with")
    out.append(f"`archc compare A B {' '.join(COMPARE)} --steps N` (so each text path is 4 blocks")
    out.append("deep). The tables are what the runs printed, whichever way they came out.")
    out.append("")
    out.append("How to read them: *train* is each head's loss over the last tenth of the steps, with")
    out.append("the training draws; *eval* is over fresh batches with loops at their inference passes,")
    out.append("nothing masked except for a head whose target has mask tokens (`siglip`), which is scored")
    out.append("on drawn masks as its objective is defined. The perfect VLM replaces 0-100% of its image rows with a mask token")
    out.append("every training step (its SigLIP-denoising objective). On the built-in task (docs/data.md)")
    out.append("the next VQ code depends on an entity fact that only the image rows show (the text spells")
    out.append("the facts too, so `lm` does not need the image), so its *train* `gen` loss is taken with")
    out.append("part of that evidence hidden; its *eval* `gen` loss is not. `perfect-vlm-no-denoise` is")
    out.append("the same architecture without that objective (no `siglip` head, no image mask tokens): the")
    out.append("difference between the two rows is the objective's, not the architecture's. The task is small and")
    out.append("synthetic, the models are smoke-sized, and each row is one seed: these tables test the")
    out.append("tooling and show what the designs do here, not the seeds' claims at scale. Each table")
    out.append("starts with the command that produced it.\n")
    for name, models in EXPERIMENTS:
        md = PICS / f"compare-{name}.md"
        if args.compare:
            with tempfile.TemporaryDirectory() as tmp:
                run(args.archc, "compare", *[f"models/{m}.arch" for m in models], *COMPARE,
                    "--steps", args.steps, "-o", tmp)
                # The table's first line is its command; the scratch directory is not part of it.
                text = (pathlib.Path(tmp) / "compare.md").read_text()
                md.write_text(re.sub(r" -o [^\s`]+", "", text, count=1))
                shutil.copy(pathlib.Path(tmp) / "compare.svg", PICS / f"compare-{name}.svg")
        out.append("### " + " against ".join(f"`{m}`" for m in models) + "\n")
        if md.exists():
            out.append(md.read_text().rstrip() + "\n")
            out.append(f"![loss curves](models/compare-{name}.svg)\n")
        else:
            out.append("(not run yet: `python3 docs/gallery.py --compare`)\n")
    written[DOCS / "models.md"] = ("\n".join(out).rstrip() + "\n").encode()
    if args.check:
        stale = [str(p.relative_to(ROOT)) for p, b in written.items()
                 if not p.exists() or p.read_bytes() != b]
        if stale:
            sys.exit("out of date (run python3 docs/gallery.py): " + ", ".join(stale))
        print("docs/models.md and its pictures are up to date")
        return
    for p, b in written.items():
        p.write_bytes(b)
    print(f"wrote {DOCS / 'models.md'} and {PICS}/")


if __name__ == "__main__":
    main()
