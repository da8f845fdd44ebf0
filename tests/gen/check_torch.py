"""Runs a generated PyTorch model (archc gen torch) on a batch and compares its outputs
with the runtime's: cli/tests/gen.rs writes the weights, the batch and the runtime's
outputs; this prints the largest difference per head, relative to the head's largest
value, as JSON, and exits 1 if any is above the tolerance.

    python check_torch.py GEN_DIR weights.safetensors batch.safetensors expected.safetensors TOL
"""

import json
import sys

import torch
from safetensors import safe_open
from safetensors.torch import load_file

gen, weights, batch_path, expected_path, tol = sys.argv[1:6]
sys.path.insert(0, gen)
import model as M  # noqa: E402

torch.manual_seed(0)
m = M.Model()
m.load_state_dict(load_file(weights), strict=True)
m.eval()
with safe_open(batch_path, "pt") as f:
    layout = [(s.split(":")[0], int(s.split(":")[1])) for s in f.metadata()["layout"].split(",")]
    tensors = {k: f.get_tensor(k) for k in f.keys()}
batch = {"layout": layout, "ids": {}, "features": {}, "masked": {}, "steps": {}}
for k, t in tensors.items():
    stem, kind = k.rsplit(".", 1)
    if kind == "ids":
        batch["ids"][stem] = t.long()
    elif kind == "features":
        batch["features"][stem] = t.float()
    elif kind == "masked":
        batch["masked"][stem] = t != 0
with torch.no_grad():
    heads, steps = m(batch)
expected = load_file(expected_path)
report, worst = {}, 0.0
for name, want in expected.items():
    if name.startswith("steps."):
        report[name] = [int(want.item()), steps.get(name[len("steps."):])]
        if report[name][0] != report[name][1]:
            worst = float("inf")
        continue
    got = heads[name]
    if got.shape != want.shape:
        report[name] = f"shape {list(got.shape)} != {list(want.shape)}"
        worst = float("inf")
        continue
    rel = ((got - want).abs().max() / want.abs().max().clamp_min(1e-30)).item()
    report[name] = rel
    worst = max(worst, rel)
missing = sorted(set(heads) - set(expected))
if missing:
    report["heads the runtime did not give"] = missing
    worst = float("inf")
print(json.dumps(report))
sys.exit(0 if worst <= float(tol) else 1)
