"""Pick NumPy or torch from the array passed in, without importing torch.

Every primitive is written once against the tiny surface below; the backend
is the array's own library, so torch tensors stay on their device and NumPy
users never pay for importing torch.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np


def is_torch(x: Any) -> bool:
    """True when ``x`` is a torch tensor (torch is only looked up, never imported)."""
    torch = sys.modules.get("torch")
    return torch is not None and isinstance(x, torch.Tensor)


class _NumpyOps:
    """The handful of array operations the primitives need, NumPy flavour."""

    name = "numpy"

    @staticmethod
    def asarray(x, like=None, dtype=None):
        return np.asarray(x, dtype=dtype)

    @staticmethod
    def arange(n, like=None):
        return np.arange(n)

    @staticmethod
    def zeros(shape, dtype, like=None):
        return np.zeros(shape, dtype=dtype)

    @staticmethod
    def full(shape, value, dtype, like=None):
        return np.full(shape, value, dtype=dtype)

    @staticmethod
    def flip0(x):
        return x[::-1]

    @staticmethod
    def cumprod0(x):
        return np.cumprod(x, axis=0)

    @staticmethod
    def argmin1(x):
        return np.argmin(x, axis=1)

    @staticmethod
    def abs(x):
        return np.abs(x)

    @staticmethod
    def maximum(a, b):
        return np.maximum(a, b)

    @staticmethod
    def where(c, a, b):
        return np.where(c, a, b)

    @staticmethod
    def take_rows(x, idx):
        return x[idx]

    @staticmethod
    def int_dtype(x=None):
        return np.int64

    @staticmethod
    def bool_dtype():
        return np.bool_

    @staticmethod
    def float_dtype(x):
        return x.dtype

    @staticmethod
    def to_float64(x):
        return x.astype(np.float64)

    @staticmethod
    def cast(x, dtype):
        return x.astype(dtype, copy=False)

    @staticmethod
    def sqrt(x):
        return np.sqrt(x)

    @staticmethod
    def floor(x):
        return np.floor(x)

    @staticmethod
    def any1(x):
        return x.any(axis=1)

    @staticmethod
    def default_float(like=None):
        return np.float64


class _TorchOps:
    """The same surface for torch tensors, on the tensor's own device."""

    name = "torch"

    def __init__(self):
        import torch
        self.t = torch

    def asarray(self, x, like=None, dtype=None):
        device = None if like is None else like.device
        if isinstance(x, self.t.Tensor):
            return x.to(device=device or x.device, dtype=dtype or x.dtype)
        return self.t.as_tensor(np.asarray(x), device=device, dtype=dtype)

    def arange(self, n, like=None):
        return self.t.arange(n, device=None if like is None else like.device)

    def zeros(self, shape, dtype, like=None):
        return self.t.zeros(shape, dtype=dtype, device=None if like is None else like.device)

    def full(self, shape, value, dtype, like=None):
        return self.t.full(shape, value, dtype=dtype, device=None if like is None else like.device)

    def flip0(self, x):
        return self.t.flip(x, dims=(0,))

    def cumprod0(self, x):
        return self.t.cumprod(x, dim=0)

    def argmin1(self, x):
        return self.t.argmin(x, dim=1)

    def abs(self, x):
        return self.t.abs(x)

    def maximum(self, a, b):
        return self.t.maximum(a, b)

    def where(self, c, a, b):
        return self.t.where(c, a, b)

    def take_rows(self, x, idx):
        return x[idx]

    def int_dtype(self, x=None):
        return self.t.int64

    def bool_dtype(self):
        return self.t.bool

    def float_dtype(self, x):
        return x.dtype

    def to_float64(self, x):
        return x.to(self.t.float64)

    def cast(self, x, dtype):
        return x.to(dtype)

    def sqrt(self, x):
        return self.t.sqrt(x)

    def floor(self, x):
        return self.t.floor(x)

    def any1(self, x):
        return x.any(dim=1)

    def default_float(self, like=None):
        return self.t.get_default_dtype()


_NUMPY = _NumpyOps()
_TORCH: _TorchOps | None = None


def ops_for(*arrays: Any):
    """The ops object for the first array given (torch if it is a tensor)."""
    global _TORCH
    for x in arrays:
        if x is None:
            continue
        if is_torch(x):
            if _TORCH is None:
                _TORCH = _TorchOps()
            return _TORCH
        return _NUMPY
    return _NUMPY
