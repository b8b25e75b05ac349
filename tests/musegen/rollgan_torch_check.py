#!/usr/bin/env python3
"""Oracle for rollgan's gradient penalty (test_rollgan.cpp): the critic of rollgan.hpp built in
PyTorch with the weights the test gives, and WGAN-GP's penalty lambda * mean((|grad_x D(x)| - 1)^2)
with torch.autograd.grad(create_graph=True), then its gradient with respect to every weight.

Usage: rollgan_torch_check.py IN.json OUT.json
IN: {"weight": lambda, "x": {"shape": [...], "values": [...]},
     "params": {name: {"shape": [...], "values": [...]}, ...}}  (the critic's state dict)
OUT: {"value": penalty, "mean_norm": mean |grad|, "grads": {name: [...]}, "scores": [...]}
"""
import json
import sys

import torch
import torch.nn.functional as F


def tensor(entry):
    return torch.tensor(entry["values"], dtype=torch.float64).reshape(entry["shape"])


def main():
    spec = json.load(open(sys.argv[1]))
    p = {name: tensor(e).requires_grad_(True) for name, e in spec["params"].items()}
    x = tensor(spec["x"]).requires_grad_(True)

    def critic(x):
        h = F.leaky_relu(F.conv2d(x, p["conv1.weight"], p["conv1.bias"], stride=2, padding=1), 0.2)
        h = F.leaky_relu(F.conv2d(h, p["conv2.weight"], p["conv2.bias"], stride=2, padding=1), 0.2)
        h = F.leaky_relu(F.conv2d(h, p["conv3.weight"], p["conv3.bias"], stride=2, padding=1), 0.2)
        return F.linear(h.reshape(x.shape[0], -1), p["score.weight"], p["score.bias"]).reshape(-1)

    scores = critic(x)
    (g,) = torch.autograd.grad(scores.sum(), x, create_graph=True)
    norms = g.reshape(x.shape[0], -1).norm(dim=1)
    penalty = spec["weight"] * ((norms - 1) ** 2).mean()
    # The score's bias has no effect on the gradient with respect to x: None, a zero gradient.
    grads = torch.autograd.grad(penalty, list(p.values()), allow_unused=True)
    grads = [torch.zeros_like(v) if gr is None else gr for v, gr in zip(p.values(), grads)]
    out = {"value": penalty.item(), "mean_norm": norms.mean().item(),
           "scores": scores.tolist(),
           "grads": {name: gr.reshape(-1).tolist() for name, gr in zip(p.keys(), grads)}}
    json.dump(out, open(sys.argv[2], "w"))


if __name__ == "__main__":
    main()
