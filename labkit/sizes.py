"""Honest size accounting for sparse models: dense, non-zeros only, and non-zeros + indices.

The lab reports "non-zeros x 32 bits", which no real storage format reaches: a sparse
tensor must also say *where* its non-zeros are. This module counts, in bits:

* dense: every parameter x ``data_width``;
* non-zeros: non-zero parameters x ``data_width`` (the lab's number);
* bitmask: pruned tensors store their non-zeros plus one bit per element;
* CSR: pruned tensors, viewed as (C_out, rest) matrices, store their non-zeros, one int32
  column index per non-zero and (C_out + 1) int32 row pointers.

Pruned tensors are the parameters with dim > 1; BN parameters and biases stay dense in the
bitmask and CSR formats (they count the same in all formats but "non-zeros").
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn

from .metrics import MiB

__all__ = ["SizeReport", "size_report"]

INDEX_BITS = 32  # int32 CSR indices


@dataclass(frozen=True)
class SizeReport:
    """Model size in bits under four accountings (see the module docstring)."""

    dense_bits: int
    nonzero_bits: int
    bitmask_bits: int
    csr_bits: int

    def rows(self) -> list[tuple[str, int]]:
        """Return ``(format, bits)`` pairs in display order."""
        return [
            ("dense", self.dense_bits),
            ("non-zeros only (lab)", self.nonzero_bits),
            ("non-zeros + bitmask", self.bitmask_bits),
            ("non-zeros + CSR (int32)", self.csr_bits),
        ]

    def __str__(self) -> str:
        lines = [f"{'format':<26}{'MiB':>10}{'% of dense':>12}"]
        for name, bits in self.rows():
            lines.append(f"{name:<26}{bits / MiB:>10.2f}{bits / self.dense_bits:>12.2%}")
        return "\n".join(lines)


def size_report(model: nn.Module, data_width: int = 32) -> SizeReport:
    """Count ``model``'s size in bits as dense, non-zeros, bitmask and CSR storage.

    Args:
        model: the (pruned) network.
        data_width: bits per stored value (32 for fp32).

    Example:
        >>> print(size_report(model))   # a table in MiB and % of dense
    """
    if data_width < 1:
        raise ValueError(f"data_width={data_width} must be >= 1 bit")
    dense = nonzero = bitmask = csr = 0
    for p in model.parameters():
        numel, nnz = p.numel(), int(p.count_nonzero())
        dense += numel * data_width
        nonzero += nnz * data_width
        if p.dim() > 1:
            bitmask += nnz * data_width + numel
            csr += nnz * (data_width + INDEX_BITS) + (p.shape[0] + 1) * INDEX_BITS
        else:
            bitmask += numel * data_width
            csr += numel * data_width
    return SizeReport(dense, nonzero, bitmask, csr)
