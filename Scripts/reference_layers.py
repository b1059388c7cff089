#!/usr/bin/env python3
"""PyTorch reference for every Glimpse layer: writes Tests/GlimpseLayersTests/Fixtures/layers.safetensors.

Run once (the output is committed; CI never needs PyTorch):

    pip install torch safetensors numpy
    python3 Scripts/reference_layers.py

Each case builds the layer in PyTorch with a fixed seed, runs forward on small
deterministic float32 inputs, then backward from a fixed random upstream gradient
(`grad_output`), in float64 so that the reference is as exact as it can be. Tensors
are stored as float32 under names

    <case>.input, <case>.<other input>        inputs
    <case>.param.<name>                        parameters and buffers, PyTorch names
    <case>.output[.<name>]                     outputs
    <case>.grad_output[.<name>]                upstream gradient of each output
    <case>.grad.input, <case>.grad.param.<n>   gradients

and the Swift tests rebuild each layer from the stored parameters and compare
tensor by tensor.
"""
import json
import os

import torch
import torch.nn as nn
import torch.nn.functional as F
from safetensors.torch import save_file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
OUT = os.path.join(ROOT, "Tests", "GlimpseLayersTests", "Fixtures", "layers.safetensors")

tensors = {}
notes = {}


def f32(t):
    """Round to float32 and back: inputs and parameters are exactly what Swift sees."""
    return t.detach().float().double()


def put(name, t):
    if t.dtype in (torch.int64, torch.int32):
        tensors[name] = t.detach().to(torch.int64).contiguous()
    else:
        tensors[name] = t.detach().float().contiguous()


def rand(*shape, scale=1.0):
    return f32(torch.randn(*shape, dtype=torch.float64) * scale)


def record_module(case, module, inputs, outputs, grad_outputs, note):
    """inputs: dict name -> leaf tensor (requires_grad where a gradient is wanted)."""
    notes[case] = note
    for name, value in inputs.items():
        put(f"{case}.{name}", value)
    for name, parameter in module.named_parameters():
        put(f"{case}.param.{name}", parameter)
    for name, buffer in module.named_buffers():
        if buffer.dtype.is_floating_point:
            put(f"{case}.param.{name}", buffer)
    for name, output in outputs.items():
        suffix = "" if name == "" else "." + name
        put(f"{case}.output{suffix}", output)
        put(f"{case}.grad_output{suffix}", grad_outputs[name])
    total = sum((outputs[name] * grad_outputs[name]).sum() for name in outputs)
    total.backward()
    for name, value in inputs.items():
        if value.requires_grad:
            put(f"{case}.grad.{name}", value.grad)
    for name, parameter in module.named_parameters():
        put(f"{case}.grad.param.{name}", parameter.grad)


def prepare(module):
    module.double()
    with torch.no_grad():
        for parameter in module.parameters():
            parameter.copy_(f32(parameter))
    return module


def linear():
    module = prepare(nn.Linear(5, 4))
    x = rand(3, 5).requires_grad_()
    y = module(x)
    record_module("linear", module, {"input": x}, {"": y}, {"": rand(*y.shape)}, "Linear 5->4, batch 3")


def conv():
    module = prepare(nn.Conv2d(3, 4, 3, stride=1, padding=1, bias=False))
    x = rand(2, 3, 6, 5).requires_grad_()
    y = module(x)
    record_module("conv3x3", module, {"input": x}, {"": y}, {"": rand(*y.shape)},
                  "Conv2d 3->4, 3x3, stride 1, padding 1, no bias; input [2,3,6,5]")
    # A general shape: stride 2, padding 0, 2x3 kernel, with bias.
    module = prepare(nn.Conv2d(2, 3, (2, 3), stride=2, padding=0, bias=True))
    x = rand(2, 2, 7, 8).requires_grad_()
    y = module(x)
    record_module("conv_general", module, {"input": x}, {"": y}, {"": rand(*y.shape)},
                  "Conv2d 2->3, kernel 2x3, stride 2, padding 0, bias; input [2,2,7,8]")


def batchnorm():
    module = prepare(nn.BatchNorm2d(3))
    with torch.no_grad():
        module.weight.copy_(f32(torch.rand(3, dtype=torch.float64) + 0.5))
        module.bias.copy_(rand(3))
        module.running_mean.copy_(rand(3, scale=0.1))
        module.running_var.copy_(f32(torch.rand(3, dtype=torch.float64) + 0.5))
    put("batchnorm_train.running_mean_before", module.running_mean)
    put("batchnorm_train.running_var_before", module.running_var)
    module.train()
    x = (rand(2, 3, 4, 5) * 2 + 1).requires_grad_()
    y = module(x)
    record_module("batchnorm_train", module, {"input": x}, {"": y}, {"": rand(*y.shape)},
                  "BatchNorm2d(3) training: batch statistics; param.running_* are the values AFTER the update")
    module.eval()
    x = rand(2, 3, 4, 5).requires_grad_()
    for parameter in module.parameters():
        parameter.grad = None
    y = module(x)
    record_module("batchnorm_eval", module, {"input": x}, {"": y}, {"": rand(*y.shape)},
                  "BatchNorm2d(3) inference: running statistics")


def relu_and_pool():
    x = rand(2, 3, 6, 4).requires_grad_()
    y = F.relu(x)
    record_module("relu", nn.Identity(), {"input": x}, {"": y}, {"": rand(*y.shape)}, "ReLU")
    # Distinct values so the max of every window is unique.
    values = torch.randperm(2 * 3 * 6 * 4, dtype=torch.float64).reshape(2, 3, 6, 4) / 10.0
    x = f32(values).requires_grad_()
    y = F.max_pool2d(x, 2, 2)
    record_module("maxpool", nn.Identity(), {"input": x}, {"": y}, {"": rand(*y.shape)}, "MaxPool2d 2x2 stride 2")


def embedding():
    module = prepare(nn.Embedding(7, 4))
    indices = torch.tensor([[1, 5, 5], [0, 6, 1]], dtype=torch.int64)
    y = module(indices)
    record_module("embedding", module, {"indices": indices}, {"": y}, {"": rand(*y.shape)},
                  "Embedding 7x4 with repeated indices (gradients add up)")


def lstm_cell():
    module = prepare(nn.LSTMCell(5, 4))
    x = rand(3, 5).requires_grad_()
    h = rand(3, 4, scale=0.5).requires_grad_()
    c = rand(3, 4, scale=0.5).requires_grad_()
    h1, c1 = module(x, (h, c))
    record_module("lstm_cell", module, {"input": x, "hidden": h, "cell": c},
                  {"hidden": h1, "cell": c1}, {"hidden": rand(3, 4), "cell": rand(3, 4)},
                  "LSTMCell input 5 hidden 4, gates i,f,g,o")


class SoftAttention(nn.Module):
    """Show, Attend and Tell's deterministic soft attention with the beta gate."""

    def __init__(self, feature_size, hidden_size, attention_size):
        super().__init__()
        self.encoder_att = nn.Linear(feature_size, attention_size)
        self.decoder_att = nn.Linear(hidden_size, attention_size)
        self.full_att = nn.Linear(attention_size, 1)
        self.f_beta = nn.Linear(hidden_size, feature_size)

    def forward(self, features, hidden):
        attention1 = self.encoder_att(features)                 # [B, P, A]
        attention2 = self.decoder_att(hidden)                   # [B, A]
        scores = self.full_att(torch.tanh(attention1 + attention2.unsqueeze(1))).squeeze(2)  # [B, P]
        alpha = torch.softmax(scores, dim=1)                    # [B, P]
        context = (features * alpha.unsqueeze(2)).sum(dim=1)    # [B, D]
        gate = torch.sigmoid(self.f_beta(hidden))               # [B, D]
        return gate * context, alpha


def attention():
    module = prepare(SoftAttention(6, 4, 3))
    features = rand(2, 5, 6).requires_grad_()
    hidden = rand(2, 4).requires_grad_()
    output, alpha = module(features, hidden)
    record_module("attention", module, {"features": features, "hidden": hidden},
                  {"": output, "alpha": alpha}, {"": rand(2, 6), "alpha": rand(2, 5)},
                  "Soft attention B=2 P=5 D=6 H=4 A=3; outputs gate*context and alpha")


def cross_entropy():
    logits = rand(6, 5, scale=2.0).requires_grad_()
    targets = torch.tensor([3, 0, 1, 4, 0, 2], dtype=torch.int64)  # 0 is the padding index
    loss = F.cross_entropy(logits, targets, ignore_index=0, reduction="mean")
    notes["cross_entropy"] = "softmax cross-entropy, ignore_index 0, mean over the 4 counted tokens"
    put("cross_entropy.input", logits)
    put("cross_entropy.targets", targets)
    put("cross_entropy.output", loss.reshape(1))
    loss.backward()
    put("cross_entropy.grad.input", logits.grad)


def adam_and_clipping():
    weight = nn.Parameter(rand(3, 4))
    bias = nn.Parameter(rand(3))
    put("adam.param.weight", weight)
    put("adam.param.bias", bias)
    optimizer = torch.optim.Adam([weight, bias], lr=0.01, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.05)
    for step in range(3):
        optimizer.zero_grad()
        gradient_w, gradient_b = rand(3, 4), rand(3, scale=3.0)
        put(f"adam.step{step}.grad.weight", gradient_w)
        put(f"adam.step{step}.grad.bias", gradient_b)
        weight.grad, bias.grad = gradient_w.clone(), gradient_b.clone()
        norm = torch.nn.utils.clip_grad_norm_([weight, bias], max_norm=2.0)
        put(f"adam.step{step}.norm", norm.reshape(1))
        put(f"adam.step{step}.clipped.weight", weight.grad)
        put(f"adam.step{step}.clipped.bias", bias.grad)
        optimizer.step()
        put(f"adam.step{step}.param.weight", weight)
        put(f"adam.step{step}.param.bias", bias)
    notes["adam"] = ("Adam lr 0.01 betas (0.9, 0.999) eps 1e-8 weight_decay 0.05; each step clips the "
                     "gradients to global norm 2 first")


def main():
    torch.manual_seed(20261122)
    linear()
    conv()
    batchnorm()
    relu_and_pool()
    embedding()
    lstm_cell()
    attention()
    cross_entropy()
    adam_and_clipping()
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    save_file(tensors, OUT, metadata={"generator": "Scripts/reference_layers.py", "torch": torch.__version__,
                                      "notes": json.dumps(notes, sort_keys=True)})
    print(f"{len(tensors)} tensors, {os.path.getsize(OUT)} bytes -> {OUT}")


if __name__ == "__main__":
    main()
