"""Training tokens/s of a generated PyTorch model (archc gen torch), steady state: the
harness cli/benches/train_vs_torch.rs runs this alternately with the runtime.

    python bench_torch.py GEN_DIR SHARD BATCH STEPS THREADS
"""

import sys
import time

import torch

gen, shard, batch, steps, threads = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
sys.path.insert(0, gen)
import model as M  # noqa: E402
import train as T  # noqa: E402

torch.set_num_threads(threads)
torch.manual_seed(0)
m = M.Model()
params = list(m.parameters())
opt = torch.optim.AdamW([{"params": [p for p in params if p.dim() >= 2], "weight_decay": 1e-2},
                         {"params": [p for p in params if p.dim() < 2], "weight_decay": 0.0}],
                        lr=1e-3, betas=(0.9, 0.999), eps=1e-8)
data = T.Shards(shard)
gen_ = torch.Generator().manual_seed(0)


def step():
    b = T.draw(data.batch(batch, gen_), gen_)
    out, _ = m(b)
    total = sum(w * l for l, w in T.losses(m, out, b).values())
    opt.zero_grad(set_to_none=True)
    total.backward()
    torch.nn.utils.clip_grad_norm_(m.parameters(), 1.0)
    opt.step()
    return batch * sum(n for _, n in b["layout"])


for _ in range(3):  # warm up
    step()
start, tokens = time.perf_counter(), 0
for _ in range(steps):
    tokens += step()
print(tokens / (time.perf_counter() - start))
