"""Train the generated model (archc gen torch): one process, or several under torchrun with
DDP or FSDP2, on CPU or CUDA.

    python train.py --data shards.safetensors --steps 100
    torchrun --nproc-per-node 8 train.py --data shards/ --parallel fsdp --device cuda

The objectives, optimizer and schedule are archc's (docs/training.md): per-head losses
weighted and summed; AdamW with PyTorch's defaults, weight decay on rank >= 2 parameters;
linear warmup then cosine; global-norm clipping; mask rates and sampled recurrence drawn
per step. Data: archc's multimodal safetensors shards (docs/data.md); `archc data` writes
the built-in task in that format.
"""

import argparse
import math
import os
import time

import torch
import torch.distributed as dist
import torch.nn.functional as F
from safetensors import safe_open
from safetensors.torch import load_file, save_file

import model as M


def arguments():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--data", required=True, help="a .safetensors shard or a directory of them")
    p.add_argument("--steps", type=int, default=100)
    p.add_argument("--batch", type=int, default=8, help="sequences per step and process")
    p.add_argument("--lr", type=float, default=1e-3)
    p.add_argument("--min-lr", type=float, default=None, help="default: lr / 10")
    p.add_argument("--warmup", type=int, default=None, help="default: steps / 10, at most 100")
    p.add_argument("--clip", type=float, default=1.0)
    p.add_argument("--weight-decay", type=float, default=1e-2)
    p.add_argument("--beta1", type=float, default=0.9)
    p.add_argument("--beta2", type=float, default=0.999)
    p.add_argument("--eps", type=float, default=1e-8)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--init", help="start from these weights (archc names)")
    p.add_argument("--out", help="write OUT/model.safetensors at the end")
    p.add_argument("--parallel", choices=["none", "ddp", "fsdp"], default="none")
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--log-every", type=int, default=10)
    return p.parse_args()


def lr_at(step, a, total):
    """archc's schedule (nanoGPT's get_lr): steps count from 1."""
    min_lr = a.lr / 10 if a.min_lr is None else a.min_lr
    warmup = min(total // 10, 100) if a.warmup is None else a.warmup
    if warmup > 0 and step <= warmup:
        return a.lr * step / warmup
    if step >= total or total <= warmup:
        return min_lr
    ratio = (step - warmup) / (total - warmup)
    return min_lr + 0.5 * (1 + math.cos(math.pi * ratio)) * (a.lr - min_lr)


class Shards:
    """Every example of every shard in memory; the layout shared by all (docs/data.md)."""

    def __init__(self, path):
        files = sorted(os.path.join(path, f) for f in os.listdir(path) if f.endswith(".safetensors")) \
            if os.path.isdir(path) else [path]
        if not files:
            raise SystemExit(f"error: no .safetensors shards in {path}")
        self.layout, parts = None, {}
        for f in files:
            with safe_open(f, "pt") as s:
                meta = s.metadata() or {}
                if "layout" not in meta:
                    raise SystemExit(f"error: {f} has no `layout` metadata (docs/data.md)")
                layout = [(seg.split(":")[0], int(seg.split(":")[1])) for seg in meta["layout"].split(",")]
                if self.layout is not None and layout != self.layout:
                    raise SystemExit(f"error: {f} has layout {meta['layout']}, unlike the shards before it")
                self.layout = layout
                for k in s.keys():
                    parts.setdefault(k, []).append(s.get_tensor(k))
        self.tensors = {k: torch.cat(v) for k, v in parts.items()}
        self.n = next(iter(self.tensors.values())).shape[0]
        stems = {s["name"]: s for s in M.STEMS}
        for stem, _ in self.layout:
            if stem not in stems:
                raise SystemExit(f"error: the shards have `{stem}` segments, which the model has no stem for")

    def batch(self, size, gen):
        pick = torch.randint(0, self.n, (size,), generator=gen)
        ids, features = {}, {}
        for k, t in self.tensors.items():
            stem, kind = k.rsplit(".", 1)
            (ids if kind == "ids" else features)[stem] = t[pick]
        return {"layout": self.layout, "ids": {k: v.long() for k, v in ids.items()},
                "features": {k: v.float() for k, v in features.items()}}


def _round(x):
    """Half away from zero, as Rust's f64::round."""
    return int(math.floor(x + 0.5))


def draw(batch, gen):
    """The step's draws (docs/semantics.md, "Training draws")."""
    masked, steps = {}, {}
    for stem, (lo, hi) in M.MASK_TOKENS.items():
        n = sum(n for s, n in batch["layout"] if s == stem)
        b = next(iter({**batch["ids"], **batch["features"]}.values())).shape[0]
        rate = lo + (hi - lo) * torch.rand((), generator=gen).item()
        masked[stem] = torch.rand(b, n, generator=gen) < rate
        for m, kind, causal in M.MASKS:
            if m == stem and kind == "mntp":
                # GPT-BERT: the first round(b * causal) examples stay causal, unmasked.
                masked[stem][: _round(b * causal)] = False
    for name, mean in M.SAMPLED_LOOPS.items():
        if mean <= 1:
            steps[name] = 1
            continue
        s = 0.5
        tau = math.log(mean - 1) - s * s / 2 + s * torch.randn((), generator=gen).item()
        steps[name] = 1 + int(torch.poisson(torch.tensor(math.exp(tau)), generator=gen).item())
    batch["masked"], batch["steps"] = masked, steps
    return batch


def losses(model, out, batch):
    """Each head's loss (docs/semantics.md, "Objectives")."""
    result = {}
    for h in M.HEADS:
        y, t, kind = out.get(h["head"]), h["target"], h["objective"]
        if y is None:
            continue
        if kind in ("next_token", "vq_ce"):
            # Position j predicts id j + shift (shift 1; 0 over a `next_scale` stem). A
            # `prefix(len)` region leaves out the first len - 1 predictions: their
            # positions see the ids they would predict.
            ids, k, s = batch["ids"][t], h["skip"], h["shift"]
            n = ids.shape[1]
            if n < k + s + 1:
                continue
            logits = y[:, k : n - s]
            ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), ids[:, k + s :].reshape(-1), reduction="none")
            z = torch.logsumexp(logits, -1).pow(2).reshape(-1)
            if any(m == t and kind == "mntp" for m, kind, _ in M.MASKS) and t in batch.get("masked", {}):
                # GPT-BERT's MNTP: an example with masked rows is scored on those only.
                rows = batch["masked"][t].float()
                has = (rows.sum(1, keepdim=True) > 0).float()
                w = (rows * has + (1 - has))[:, k + s :].reshape(-1)
            else:
                w = torch.ones_like(ce)
            loss = (ce * w).sum() / w.sum().clamp_min(1.0)
            if h["z_loss"]:
                loss = loss + h["z_loss"] * (z * w).sum() / w.sum().clamp_min(1.0)
        elif kind == "masked_regression":
            x, s = batch["features"][t], h["shift"]
            if x.shape[1] <= s:
                continue
            pred, want = y[:, : y.shape[1] - s], x[:, s:]
            if h["loss"] == "mse":
                per = (pred - want).pow(2).mean(-1)
            else:
                per = 1 - (pred * want).sum(-1) / (pred.pow(2).sum(-1) * want.pow(2).sum(-1)).sqrt().clamp_min(1e-8)
            w = batch["masked"][t][:, s:].float() if t in batch.get("masked", {}) else torch.ones_like(per)
            loss = (per * w).sum() / w.sum().clamp_min(1.0)
        elif kind == "diffusion":
            x = batch["features"][t]
            if t in batch.get("masked", {}):
                sel = batch["masked"][t].reshape(-1)
                xs, zs = x.reshape(-1, x.shape[-1])[sel], y.reshape(-1, y.shape[-1])[sel]
            else:
                xs, zs = x[:, 1:].reshape(-1, x.shape[-1]), y[:, :-1].reshape(-1, y.shape[-1])
            if xs.shape[0] == 0:
                continue
            objective = (model.module if hasattr(model, "module") else model).get_submodule(h["head"] + ".objective")
            loss = objective.loss(xs, zs)
        else:
            raise SystemExit(f"error: head `{h['head']}`: `{kind}` needs labels, which shards do not give")
        result[h["head"]] = (loss, h["weight"])
    return result


def main():
    a = arguments()
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    if a.parallel != "none" and world > 1:
        dist.init_process_group("nccl" if a.device.startswith("cuda") else "gloo")
        if a.device == "cuda":
            a.device = f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"
    device = torch.device(a.device)
    if device.type == "cuda":
        torch.cuda.set_device(device)
    torch.manual_seed(a.seed)
    model = M.Model()
    if a.init:
        missing, unexpected = model.load_state_dict(load_file(a.init), strict=False)
        if missing or unexpected:
            raise SystemExit(f"error: {a.init}: missing {missing}, unexpected {unexpected}")
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
              {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    if a.parallel == "ddp" and world > 1:
        model = torch.nn.parallel.DistributedDataParallel(model)
    elif a.parallel == "fsdp" and world > 1:
        try:
            from torch.distributed.fsdp import fully_shard
        except ImportError:
            from torch.distributed._composable.fsdp import fully_shard
        for m in model.modules():
            if isinstance(m, M.Block):
                fully_shard(m)
        fully_shard(model)
        params = [p for p in model.parameters() if p.requires_grad]
        groups = [{"params": [p for p in params if p.dim() >= 2], "weight_decay": a.weight_decay},
                  {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}]
    opt = torch.optim.AdamW(groups, lr=a.lr, betas=(a.beta1, a.beta2), eps=a.eps)
    data = Shards(a.data)
    gen = torch.Generator().manual_seed(a.seed * 1000 + rank)
    start, tokens = time.time(), 0
    for step in range(1, a.steps + 1):
        for g in opt.param_groups:
            g["lr"] = lr_at(step, a, a.steps)
        batch = draw(data.batch(a.batch, gen), gen)
        batch = {**batch,
                 "ids": {k: v.to(device) for k, v in batch["ids"].items()},
                 "features": {k: v.to(device) for k, v in batch["features"].items()},
                 "masked": {k: v.to(device) for k, v in batch["masked"].items()}}
        out, passes = model(batch)
        per_head = losses(model, out, batch)
        for name, (loss, _) in per_head.items():
            if not torch.isfinite(loss):
                raise SystemExit(f"error: step {step}: the loss of head `{name}` is {loss.item()}")
        total = sum(w * l for l, w in per_head.values())
        opt.zero_grad(set_to_none=True)
        total.backward()
        norm = torch.nn.utils.clip_grad_norm_(model.parameters(), a.clip) if a.clip > 0 else None
        opt.step()
        tokens += a.batch * sum(n for _, n in batch["layout"]) * world
        if rank == 0 and (step % a.log_every == 0 or step in (1, a.steps)):
            shown = "  ".join(f"{h} {l.item():.4f}" for h, (l, _) in per_head.items())
            extra = f"  grad norm {norm.item():.3f}" if norm is not None else ""
            print(f"step {step}/{a.steps}  {shown}{extra}  {tokens / (time.time() - start):,.0f} tok/s", flush=True)
    if a.out:
        if a.parallel == "fsdp" and world > 1:
            from torch.distributed.checkpoint.state_dict import StateDictOptions, get_model_state_dict
            state = get_model_state_dict(model, options=StateDictOptions(full_state_dict=True, cpu_offload=True))
        else:
            state = (model.module if hasattr(model, "module") else model).state_dict()
        if rank == 0:
            os.makedirs(a.out, exist_ok=True)
            save_file({k: v.detach().float().cpu().contiguous() for k, v in state.items()},
                      os.path.join(a.out, "model.safetensors"))
            print(f"wrote {os.path.join(a.out, 'model.safetensors')}")
    if dist.is_initialized():
        dist.destroy_process_group()


if __name__ == "__main__":
    main()
