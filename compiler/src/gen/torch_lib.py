# The layers every archc model is made of, in PyTorch. What each computes is specified in
# archc's docs/semantics.md; the runtime (burn) and the generated Rust crate compute the
# same. Parameter names equal the `.arch` paths (docs/runtime.md).

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

try:  # FlexAttention (PyTorch >= 2.5) on CUDA; scaled_dot_product_attention otherwise.
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention
except ImportError:  # pragma: no cover
    flex_attention = None

ACTS = {
    "gelu": F.gelu,
    "gelu_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
    "silu": F.silu,
    "tanh": torch.tanh,
}


class Norm(nn.Module):
    """LayerNorm (biased variance, eps inside the root) or RMSNorm, over the last dim."""

    def __init__(self, width, rms, bias, eps):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.bias = nn.Parameter(torch.zeros(width)) if bias else None
        self.rms, self.eps = rms, eps

    def forward(self, x):  # [..., width] -> [..., width]
        if self.rms:
            x = x / torch.sqrt(x.pow(2).mean(-1, keepdim=True) + self.eps)
        else:
            c = x - x.mean(-1, keepdim=True)
            x = c / torch.sqrt(c.pow(2).mean(-1, keepdim=True) + self.eps)
        x = x * self.weight
        return x + self.bias if self.bias is not None else x


class Positions(nn.Module):
    """Learned absolute positions: rows start..start+n of the table."""

    def __init__(self, max_len, dim):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(max_len, dim).normal_(0.0, 0.02))

    def forward(self, x, start=0):  # [b, n, dim] -> [b, n, dim]
        n = x.shape[1]
        if start + n > self.weight.shape[0]:
            raise ValueError(f"{start + n} positions are more than the table has ({self.weight.shape[0]})")
        return x + self.weight[start:start + n]


class NextScale(nn.Module):
    """VAR's teacher-forced next-scale input (VQVAE.idxBl_to_var_input, without quant_resi):
    scale k's positions are fed the earlier scales' embeddings, each bicubic-upsampled to
    the finest side and summed, area-downsampled to side k; scale 0 is fed `start`."""

    def __init__(self, vocab, dim, sides):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(vocab, dim).normal_(0.0, 0.02))
        self.start = nn.Parameter(torch.empty(dim).normal_(0.0, 0.02))
        self.sides = sides

    def forward(self, ids):  # [b, L] -> [b, L, dim]
        b, n = ids.shape
        d, big = self.weight.shape[1], self.sides[-1]
        if n != sum(s * s for s in self.sides):
            raise ValueError(f"a next_scale stem's scales cover {sum(s * s for s in self.sides)} rows, and the batch gives {n}")
        e = F.embedding(ids, self.weight)  # [b, L, d]
        fed = [self.start.expand(b, self.sides[0] ** 2, d)]
        acc = e.new_zeros(b, d, big, big)
        at = 0
        for j, s in enumerate(self.sides[:-1]):
            h = e[:, at:at + s * s].transpose(1, 2).reshape(b, d, s, s)
            acc = acc + F.interpolate(h, size=(big, big), mode="bicubic")
            nxt = self.sides[j + 1]
            fed.append(F.interpolate(acc, size=(nxt, nxt), mode="area").reshape(b, d, nxt * nxt).transpose(1, 2))
            at += s * s
        return torch.cat(fed, dim=1)


def rope(x, theta, start=0):
    """Rotary positions, rotate-half layout (Llama, GPT-NeoX). [b, h, s, hd] -> same."""
    s, hd = x.shape[2], x.shape[3]
    half = hd // 2
    inv = torch.tensor([1.0 / theta ** (2.0 * i / hd) for i in range(half)], dtype=torch.float32)
    pos = torch.arange(start, start + s, dtype=torch.float32)
    angles = (pos[:, None] @ inv[None, :]).to(x.device)  # [s, half]
    angles = torch.cat([angles, angles], dim=1)  # [s, hd]
    x1, x2 = x[..., :half], x[..., half:]
    return x * angles.cos() + torch.cat([-x2, x1], dim=-1) * angles.sin()


class Attention(nn.Module):
    def __init__(self, width, heads, kv_heads, head_dim, bias, qk_norm, theta):
        super().__init__()
        self.q = nn.Linear(width, heads * head_dim, bias=bias)
        self.k = nn.Linear(width, kv_heads * head_dim, bias=bias)
        self.v = nn.Linear(width, kv_heads * head_dim, bias=bias)
        self.o = nn.Linear(heads * head_dim, width, bias=bias)
        self.q_norm = Norm(head_dim, *qk_norm) if qk_norm else None
        self.k_norm = Norm(head_dim, *qk_norm) if qk_norm else None
        self.heads, self.kv_heads, self.head_dim, self.theta = heads, kv_heads, head_dim, theta

    def forward(self, x, allowed):
        """x [b, s, width]; allowed [s, s] bool (True: query may attend to key) or a
        FlexAttention BlockMask. -> [b, s, width]"""
        b, s, _ = x.shape
        h, kv, hd = self.heads, self.kv_heads, self.head_dim
        q = self.q(x).view(b, s, h, hd).transpose(1, 2)  # [b, h, s, hd]
        k = self.k(x).view(b, s, kv, hd).transpose(1, 2)  # [b, kv, s, hd]
        v = self.v(x).view(b, s, kv, hd).transpose(1, 2)
        if self.q_norm is not None:
            q, k = self.q_norm(q), self.k_norm(k)
        if self.theta > 0:
            q, k = rope(q, self.theta), rope(k, self.theta)
        if kv != h:  # each kv head serves h / kv query heads
            k = k.repeat_interleave(h // kv, dim=1)
            v = v.repeat_interleave(h // kv, dim=1)
        if isinstance(allowed, torch.Tensor):
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=allowed, scale=1.0 / math.sqrt(hd))
        else:
            out = flex_attention(q, k, v, block_mask=allowed, scale=1.0 / math.sqrt(hd))
        return self.o(out.transpose(1, 2).reshape(b, s, h * hd))


class Mlp(nn.Module):
    def __init__(self, width, hidden, kind, bias):
        super().__init__()
        self.gate = nn.Linear(width, hidden, bias=bias) if kind == "swiglu" else None
        self.up = nn.Linear(width, hidden, bias=bias)
        self.down = nn.Linear(hidden, width, bias=bias)
        self.kind = kind

    def forward(self, x):  # [b, s, width] -> [b, s, width]
        if self.kind == "swiglu":
            return self.down(F.silu(self.gate(x)) * self.up(x))
        return self.down(ACTS[self.kind](self.up(x)))


class Block(nn.Module):
    """A transformer block; `placement` pre, post, res_post (Chameleon) or sandwich."""

    def __init__(self, width, norm, placement, attention, mlp):
        super().__init__()
        self.attn_norm = Norm(width, *norm)
        self.attn = Attention(width, **attention)
        self.mlp_norm = Norm(width, *norm)
        self.mlp = Mlp(width, **mlp)
        sandwich = placement == "sandwich"
        self.attn_post_norm = Norm(width, *norm) if sandwich else None
        self.mlp_post_norm = Norm(width, *norm) if sandwich else None
        self.placement = placement

    def forward(self, x, allowed):  # [b, s, width] -> [b, s, width]
        if self.placement == "post":
            x = self.attn_norm(x + self.attn(x, allowed))
            return self.mlp_norm(x + self.mlp(x))
        if self.placement == "res_post":
            x = x + self.attn_norm(self.attn(x, allowed))
            return x + self.mlp_norm(self.mlp(x))
        if self.placement == "sandwich":
            x = x + self.attn_post_norm(self.attn(self.attn_norm(x), allowed))
            return x + self.mlp_post_norm(self.mlp(self.mlp_norm(x)))
        x = x + self.attn(self.attn_norm(x), allowed)
        return x + self.mlp(self.mlp_norm(x))


def stack(linears, act, x):
    """An n-layer MLP: the activation between layers, none after the last."""
    for i, layer in enumerate(linears):
        x = layer(x)
        if i + 1 < len(linears):
            x = ACTS[act](x)
    return x


class DiffusionMLP(nn.Module):
    """MAR's SimpleMLPAdaLN (Li et al. 2024, diffloss.py), MAR's parameter names."""

    def __init__(self, d, z, w, layers, steps):
        super().__init__()
        self.time_embed = nn.Module()
        self.time_embed.mlp = nn.Sequential(nn.Linear(256, w), nn.SiLU(), nn.Linear(w, w))
        self.cond_embed = nn.Linear(z, w)
        self.input_proj = nn.Linear(d, w)
        self.res_blocks = nn.ModuleList()
        for _ in range(layers):
            blk = nn.Module()
            blk.in_ln = nn.LayerNorm(w, eps=1e-6)
            blk.mlp = nn.Sequential(nn.Linear(w, w), nn.SiLU(), nn.Linear(w, w))
            blk.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(w, 3 * w))
            nn.init.zeros_(blk.adaLN_modulation[1].weight)
            nn.init.zeros_(blk.adaLN_modulation[1].bias)
            self.res_blocks.append(blk)
        self.final_layer = nn.Module()
        self.final_layer.adaLN_modulation = nn.Sequential(nn.SiLU(), nn.Linear(w, 2 * w))
        self.final_layer.linear = nn.Linear(w, 2 * d)
        for p in (self.final_layer.adaLN_modulation[1], self.final_layer.linear):
            nn.init.zeros_(p.weight)
            nn.init.zeros_(p.bias)
        self.d, self.steps = d, steps
        s = torch.arange(steps + 1, dtype=torch.float64) / steps
        f = torch.cos((s + 0.008) / 1.008 * math.pi / 2) ** 2
        betas = (1 - f[1:] / f[:-1]).clamp(max=0.999)
        self.register_buffer("alphas_cumprod", torch.cumprod(1 - betas, 0).float(), persistent=False)

    def forward(self, x, t, c):  # x [n, d], t [n], c [n, z] -> [n, 2d]
        half = 128
        freqs = torch.exp(-math.log(10000.0) * torch.arange(half, dtype=torch.float32, device=x.device) / half)
        args = t.float()[:, None] * freqs[None]
        y = self.time_embed.mlp(torch.cat([args.cos(), args.sin()], dim=-1)) + self.cond_embed(c)
        y = F.silu(y)
        h = self.input_proj(x)
        for blk in self.res_blocks:
            shift, scale, gate = blk.adaLN_modulation[1](y).chunk(3, dim=-1)
            hh = blk.in_ln(h) * (1 + scale) + shift
            h = h + gate * blk.mlp(hh)
        shift, scale = self.final_layer.adaLN_modulation[1](y).chunk(2, dim=-1)
        h = F.layer_norm(h, (h.shape[-1],), eps=1e-6) * (1 + scale) + shift
        return self.final_layer.linear(h)

    def loss(self, x, c):  # x [n, d], c [n, z] -> scalar: the eps-prediction MSE
        t = torch.randint(0, self.steps, (x.shape[0],), device=x.device)
        a = self.alphas_cumprod.to(x.device)[t][:, None]
        eps = torch.randn_like(x)
        xt = a.sqrt() * x + (1 - a).sqrt() * eps
        return (self.forward(xt, t, c)[:, : self.d] - eps).pow(2).mean()


# ---- Layouts and masks (docs/semantics.md, "A batch" and "Attention masks") ----------


def positions(layout, rows):
    """Sequence positions of a domain: all for "S", modality m's for "S_m"."""
    out, at = [], 0
    for stem, n in layout:
        if rows == "S" or rows == "S_" + stem:
            out.extend(range(at, at + n))
        at += n
    return out


def _scale_of(sides, within):
    end = 0
    for g, s in enumerate(sides):
        end += s * s
        if within < end:
            return g
    return None


def allowed_mask(layout, rows, masks, device, open_=()):
    """[n, n] bool over the positions of `rows`: True where query i may attend to key j.
    Causal, except within one span of a `bidirectional` modality, among the first `len`
    positions of a `prefix(len)` modality, within a span's scale groups and to earlier
    groups under `scales(...)`, and within one span of an `mntp` modality in `open_` (an
    example with masked rows of it)."""
    tags, seen = [], {}
    for seg, (stem, n) in enumerate(layout):
        for within in range(n):
            k = seen.get(stem, 0)
            tags.append((stem, seg, k, within))
            seen[stem] = k + 1
    pos = positions(layout, rows)
    n = len(pos)
    allowed = torch.ones(n, n, dtype=torch.bool)
    for a, i in enumerate(pos):
        mi, si, ki, wi = tags[i]
        for c, j in enumerate(pos):
            if j <= i:
                continue
            mj, sj, kj, wj = tags[j]
            both = False
            if mi == mj:
                for modality, kind, arg in masks:
                    if modality != mi:
                        continue
                    if kind == "bidirectional" and si == sj:
                        both = True
                    elif kind == "mntp" and modality in open_ and si == sj:
                        both = True
                    elif kind == "prefix" and ki < arg and kj < arg:
                        both = True
                    elif kind == "scales" and si == sj:
                        gi, gj = _scale_of(arg, wi), _scale_of(arg, wj)
                        both = both or (gi is not None and gj is not None and gj <= gi)
            allowed[a, c] = both
    return allowed.to(device)


def _open(masks, masked):
    """Per example, the `mntp` modalities it has masked rows of (None: no `mntp` in play)."""
    mntp = [m for m, kind, _ in masks if kind == "mntp" and m in masked]
    if not mntp:
        return None
    b = masked[mntp[0]].shape[0]
    return [tuple(m for m in mntp if bool(masked[m][e].any())) for e in range(b)]


def attention_masks(layout, domains, masks, device, flex, masked=None):
    """One mask per domain that has blocks: a FlexAttention BlockMask when `flex` (CUDA),
    else the dense bool mask for scaled_dot_product_attention: [n, n], or [b, 1, n, n]
    when an `mntp` modality makes the examples differ."""
    out = {}
    opens = _open(masks, masked or {})
    for rows in domains:
        if opens is None:
            dense = allowed_mask(layout, rows, masks, device)
        else:
            per = {o: allowed_mask(layout, rows, masks, device, o) for o in set(opens)}
            dense = torch.stack([per[o] for o in opens])[:, None]  # [b, 1, n, n]
        if flex and flex_attention is not None:
            n = dense.shape[-1]
            if dense.dim() == 2:
                out[rows] = create_block_mask(lambda b, h, q, k, m=dense: m[q, k], None, None, n, n, device=device)
            else:
                out[rows] = create_block_mask(lambda b, h, q, k, m=dense: m[b, 0, q, k], dense.shape[0], None, n, n, device=device)
        else:
            out[rows] = dense
    return out


def gather(x, layout, rows):
    """A modality's positions of a whole-sequence value: [b, S, d] -> [b, n_m, d]."""
    idx = torch.tensor(positions(layout, rows), dtype=torch.long, device=x.device)
    return x.index_select(1, idx)


def merge(parts, layout):
    """The trunk's input: each stem's rows at its segments' positions, in layout order."""
    used, out = {}, []
    for stem, n in layout:
        if stem not in parts:
            raise ValueError(f"the batch has `{stem}` segments, but the trunk does not read that stem")
        at = used.get(stem, 0)
        out.append(parts[stem][:, at:at + n])
        used[stem] = at + n
    return torch.cat(out, dim=1)


def entropy(logits):
    """Mean next-token entropy (nats) over every position."""
    p = torch.softmax(logits, dim=-1)
    return -(p * p.clamp_min(1e-30).log()).sum(-1).mean()


def shifted(state, original, shift):
    """Position t receives the state of t - shift; the first `shift` keep the original."""
    if shift == 0:
        return state
    k = min(shift, state.shape[1])
    return torch.cat([original[:, :k], state[:, : state.shape[1] - k]], dim=1)
