"""One conditioning vector per sample: timestep + direction + diagnosis (+ pattern embedding).

The parts are summed (ADM style) and fed, through a SiLU, to every residual block's FiLM layer. Each
part can be switched off; a switched-off part has no parameters, so an ablation is visible in the
parameter count.

Diagnosis uses a learned **null token** for unknown labels (−1) and for labels dropped at random in
training (``drop_prob``), which is what makes the diagnosis optional at inference and enables
classifier-free guidance (conditional vs null-token evaluations).

A subject whose diagnosis is unknown may carry **diagnosis probabilities** instead (an estimated disease
state, made from the source map without the label): its diagnosis part is then the probability-weighted mean
of the three class embeddings (a soft diagnosis embedding), and the null token stays the unconditional branch.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from pds_mri.training.sample_rng import Rng, rand

NUM_DIAGNOSES = 3  # NC, MCI, AD
NUM_DIRECTIONS = 2  # 0 = fmri2dmri, 1 = dmri2fmri


def timestep_embedding(t: Tensor, dim: int, max_period: float = 10000.0) -> Tensor:
    """Sinusoidal embedding of (possibly fractional) timesteps, as in DDPM/ADM: (B,) → (B, dim)."""
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, device=t.device, dtype=torch.float32) / half)
    args = t.float()[:, None] * freqs[None]
    emb = torch.cat([torch.cos(args), torch.sin(args)], dim=1)
    if dim % 2:
        emb = torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=1)
    return emb


class Conditioning(nn.Module):
    """(t, direction, diagnosis, pattern embedding) → (B, embed_dim).

    ``embed_dim`` is also the width the pattern encoder must produce; its output is added as is (its
    MLP's last layer already is the projection).
    """

    def __init__(
        self,
        embed_dim: int,
        use_direction: bool = True,
        use_diagnosis: bool = True,
        use_pattern: bool = True,
    ) -> None:
        super().__init__()
        self.embed_dim = embed_dim
        self.use_pattern = use_pattern
        self.time_mlp = nn.Sequential(nn.Linear(embed_dim, embed_dim), nn.SiLU(), nn.Linear(embed_dim, embed_dim))
        self.direction = nn.Embedding(NUM_DIRECTIONS, embed_dim) if use_direction else None
        # index NUM_DIAGNOSES is the null token
        self.diagnosis = nn.Embedding(NUM_DIAGNOSES + 1, embed_dim) if use_diagnosis else None

    @property
    def null_index(self) -> int:
        return NUM_DIAGNOSES

    def diagnosis_index(self, diagnosis: Tensor, drop_prob: float = 0.0, generator: Rng = None) -> Tensor:
        """Map −1 (unknown) and randomly dropped labels to the null token."""
        diagnosis = diagnosis.long()
        if ((diagnosis < -1) | (diagnosis >= NUM_DIAGNOSES)).any():
            raise ValueError(f"diagnosis must be -1 (unknown) or 0..{NUM_DIAGNOSES - 1}")
        idx = torch.where(diagnosis < 0, torch.full_like(diagnosis, self.null_index), diagnosis)
        if drop_prob > 0:
            drop = rand(idx.shape, generator, idx.device) < drop_prob
            idx = torch.where(drop, torch.full_like(idx, self.null_index), idx)
        return idx

    def forward(
        self,
        t: Tensor,
        direction: Tensor | None = None,
        diagnosis: Tensor | None = None,
        pattern_emb: Tensor | None = None,
        drop_prob: float = 0.0,
        generator: Rng = None,
        diagnosis_probs: Tensor | None = None,
    ) -> Tensor:
        """``diagnosis_probs`` (B, 3), rows of NC/MCI/AD probabilities, is used where the label is unknown (−1)
        and was not dropped; a row of zeros means "no estimate" (null token)."""
        emb = self.time_mlp(timestep_embedding(t, self.embed_dim).to(cast(nn.Linear, self.time_mlp[0]).weight.dtype))
        if self.direction is not None:
            if direction is None:
                raise ValueError("direction is required when the direction embedding is on")
            emb = emb + self.direction(direction.long())
        if self.diagnosis is not None:
            if diagnosis is None:
                diagnosis = torch.full((t.shape[0],), -1, dtype=torch.long, device=t.device)
            idx = self.diagnosis_index(diagnosis, drop_prob, generator)
            part = self.diagnosis(idx)
            if diagnosis_probs is not None:
                probs = diagnosis_probs.to(part.dtype)
                soft = probs @ self.diagnosis.weight[:NUM_DIAGNOSES].to(part.dtype)
                unknown = (diagnosis.long() < 0) & (probs.sum(1) > 0)  # unknown labels always map to the null token
                part = torch.where(unknown[:, None], soft, part)
            emb = emb + part
        if self.use_pattern:
            if pattern_emb is None:
                raise ValueError("pattern_emb is required when the pattern embedding is on")
            emb = emb + pattern_emb.to(emb.dtype)
        return emb
