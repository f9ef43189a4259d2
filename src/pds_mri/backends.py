"""The GPU numerics policy of `pds train` / `pds synthesize`: TF32 by default, `--deterministic` for repeatability.

TF32 matmuls/convolutions on Ampere+ GPUs are several times faster than full fp32 and well inside the noise
of diffusion training. Byte-identical GPU syntheses need more: deterministic cuDNN algorithms (no autotuning),
no TF32, deterministic cuBLAS workspaces and torch's deterministic kernels. On CPU none of these flags
changes a result; they are set all the same, so the policy is one call and testable anywhere.
"""

from __future__ import annotations

import os

CUBLAS_WORKSPACE = ":4096:8"  # what cuBLAS needs for deterministic GEMMs (read when cuBLAS initialises)


def configure_backends(deterministic: bool = False) -> dict[str, bool]:
    """Set the policy for this process (before any CUDA work) and return the resulting flags.

    Deterministic kernels are requested with warn_only: an op without a deterministic implementation warns
    instead of stopping a long run.
    """
    import torch

    if deterministic:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", CUBLAS_WORKSPACE)
        torch.backends.cudnn.benchmark = False
    torch.backends.cudnn.deterministic = deterministic
    torch.backends.cuda.matmul.allow_tf32 = not deterministic
    torch.backends.cudnn.allow_tf32 = not deterministic
    torch.use_deterministic_algorithms(deterministic, warn_only=True)
    return backend_flags()


def backend_flags() -> dict[str, bool]:
    """The flags the policy sets (for provenance and tests)."""
    import torch

    return {
        "cudnn_deterministic": bool(torch.backends.cudnn.deterministic),
        "cudnn_benchmark": bool(torch.backends.cudnn.benchmark),
        "matmul_tf32": bool(torch.backends.cuda.matmul.allow_tf32),
        "cudnn_tf32": bool(torch.backends.cudnn.allow_tf32),
        "deterministic_algorithms": torch.are_deterministic_algorithms_enabled(),
    }
