"""Adam whose moments and step count are registered buffers, so they live in the owner's state_dict.

Why: the generic Trainer checkpoints one model and one optimiser. The pix2pix discriminator has its own
optimiser; keeping that optimiser's state as buffers of the objective module puts it in every checkpoint
(safetensors, no pickle) with no change to the Trainer, so a resumed pix2pix run continues exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import Tensor, nn


class BufferAdam(nn.Module):
    """Plain Adam (Kingma & Ba, bias-corrected, no weight decay) over a fixed list of parameter shapes."""

    step_count: Tensor  # buffer, registered in __init__

    def __init__(
        self, params: Sequence[nn.Parameter], lr: float, betas: tuple[float, float] = (0.5, 0.999), eps: float = 1e-8
    ) -> None:
        super().__init__()
        self.lr, self.betas, self.eps = float(lr), (float(betas[0]), float(betas[1])), float(eps)
        self.n = len(params)
        for i, p in enumerate(params):
            self.register_buffer(f"exp_avg_{i}", torch.zeros_like(p.detach()))
            self.register_buffer(f"exp_avg_sq_{i}", torch.zeros_like(p.detach()))
        self.register_buffer("step_count", torch.zeros((), dtype=torch.int64))

    @torch.no_grad()
    def step(self, params: Sequence[nn.Parameter], grads: Sequence[Tensor | None]) -> None:
        if len(params) != self.n or len(grads) != self.n:
            raise ValueError(f"expected {self.n} parameters and gradients")
        self.step_count += 1
        t = int(self.step_count)
        b1, b2 = self.betas
        c1, c2 = 1.0 - b1**t, 1.0 - b2**t
        for i, (p, g) in enumerate(zip(params, grads, strict=True)):
            if g is None:
                continue
            m, v = getattr(self, f"exp_avg_{i}"), getattr(self, f"exp_avg_sq_{i}")
            m.lerp_(g.to(m.dtype), 1.0 - b1)
            v.mul_(b2).addcmul_(g, g, value=1.0 - b2)
            p.addcdiv_(m / c1, (v / c2).sqrt_().add_(self.eps), value=-self.lr)
