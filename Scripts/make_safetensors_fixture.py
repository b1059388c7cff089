#!/usr/bin/env python3
"""Writes the interoperability fixture for GlimpseSafeTensorsTests with the reference
safetensors library, and the values it holds as exact bit patterns beside it.

    python3 -m venv Scripts/.venv && Scripts/.venv/bin/pip install safetensors numpy
    Scripts/.venv/bin/python Scripts/make_safetensors_fixture.py

The Swift tests only read the committed output; CI never runs this script.
"""
import json
import os

import numpy as np
import safetensors
from safetensors import TensorSpec, serialize

HERE = os.path.dirname(os.path.abspath(__file__))
FIXTURES = os.path.join(HERE, "..", "Tests", "GlimpseSafeTensorsTests", "Fixtures")

F32 = np.array([1.5, -0.0, 3.4028235e38, 1e-45, np.inf, -2.25], dtype=np.float32).reshape(2, 3)
# 1, -2, smallest subnormal, largest subnormal, 65504, -inf, nearest to 1/3
F16_BITS = np.array([0x3C00, 0xC000, 0x0001, 0x03FF, 0x7BFF, 0xFC00, 0x3555], dtype=np.uint16)
# 1, -5, smallest subnormal, +inf
BF16_BITS = np.array([0x3F80, 0xC0A0, 0x0001, 0x7F80], dtype=np.uint16).reshape(2, 2)
I64 = np.array([-(2**63), 42, 2**53 + 1], dtype=np.int64)
SCALAR = np.array(7.0, dtype=np.float32)
EMPTY = np.zeros((0, 3), dtype=np.float32)

METADATA = {"format": "np", "note": "Glimpse fixture \u2014 \"quoted\", caf\u00e9\n"}


def spec(array, dtype):
    assert array.flags.c_contiguous  # (np.ascontiguousarray would turn a 0-d scalar into shape [1])
    assert array.dtype.byteorder in ("<", "=", "|")
    return TensorSpec(dtype=dtype, shape=list(array.shape), data_ptr=array.ctypes.data, data_len=array.nbytes)


def float_bits(values):
    return ["0x%08x" % bits for bits in np.asarray(values, dtype=np.float32).reshape(-1).view(np.uint32)]


def main():
    arrays = [F32, F16_BITS, BF16_BITS, I64, SCALAR, EMPTY]  # kept alive while serialize reads them
    tensors = {
        "f32": spec(F32, "float32"),
        "f16": spec(F16_BITS, "float16"),
        "bf16": spec(BF16_BITS, "bfloat16"),
        "i64": spec(I64, "int64"),
        "scalar": spec(SCALAR, "float32"),
        "empty": spec(EMPTY, "float32"),
    }
    data = bytes(serialize(tensors, metadata=METADATA))
    del arrays
    with open(os.path.join(FIXTURES, "reference.safetensors"), "wb") as file:
        file.write(data)

    # numpy widens float16 exactly; bfloat16 is the upper half of a float32.
    bf16_as_f32 = (BF16_BITS.astype(np.uint32) << 16).view(np.float32)
    expected = {
        "generator": "Scripts/make_safetensors_fixture.py with safetensors %s, numpy %s"
        % (safetensors.__version__, np.__version__),
        "metadata": METADATA,
        "tensors": {
            "f32": {"dtype": "F32", "shape": list(F32.shape), "float_bits": float_bits(F32)},
            "f16": {"dtype": "F16", "shape": list(F16_BITS.shape),
                    "float_bits": float_bits(F16_BITS.view(np.float16).astype(np.float32))},
            "bf16": {"dtype": "BF16", "shape": list(BF16_BITS.shape), "float_bits": float_bits(bf16_as_f32)},
            "i64": {"dtype": "I64", "shape": list(I64.shape), "int64": [str(value) for value in I64]},
            "scalar": {"dtype": "F32", "shape": [], "float_bits": float_bits(SCALAR)},
            "empty": {"dtype": "F32", "shape": list(EMPTY.shape), "float_bits": []},
        },
    }
    with open(os.path.join(FIXTURES, "reference.expected.json"), "w") as file:
        json.dump(expected, file, indent=2, ensure_ascii=False)
        file.write("\n")


if __name__ == "__main__":
    main()
