"""The PFN: a small transformer encoder with a bar-distribution output.

Tokens: each observed epoch is ``enc_x(x) + enc_y(y)``, each query epoch ``enc_x(x)``
(two-layer MLPs of the scalar). In every layer all tokens attend to the observed tokens
only (keys and values are the observed ones, missing epochs masked out): observed pairs
attend to each other, queries to the observed pairs, never to each other or themselves, so
a query's output depends on its x and the observed curve alone and queries can be batched
freely. Pre-norm residual blocks; the head maps each query to logits over K equal-width
buckets on [0, 1] (the "bar distribution": density p_k·K, uniform inside bucket k).
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass

import torch
from torch import nn


@dataclass(frozen=True)
class PfnSettings:
    """Model sizes and the loss mapping's margin (part of the model's contract)."""

    d_model: int = 64
    n_layers: int = 3
    n_heads: int = 4
    d_ff: int = 128
    buckets: int = 200
    margin: float = 1.5

    def to_dict(self) -> dict:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: dict) -> PfnSettings:
        return cls(**{key: values[key] for key in cls.__dataclass_fields__})


def _scalar_encoder(width: int) -> nn.Sequential:
    return nn.Sequential(nn.Linear(1, width), nn.GELU(), nn.Linear(width, width))


class Block(nn.Module):
    """Pre-norm block: attention to the observed tokens, then a feed-forward layer."""

    def __init__(self, settings: PfnSettings):
        super().__init__()
        self.norm1 = nn.LayerNorm(settings.d_model)
        self.attn = nn.MultiheadAttention(settings.d_model, settings.n_heads, batch_first=True)
        self.norm2 = nn.LayerNorm(settings.d_model)
        self.ff = nn.Sequential(nn.Linear(settings.d_model, settings.d_ff), nn.GELU(),
                                nn.Linear(settings.d_ff, settings.d_model))

    def forward(self, h: torch.Tensor, n_obs: int, missing: torch.Tensor | None) -> torch.Tensor:
        a = self.norm1(h)
        keys = a[:, :n_obs]
        h = h + self.attn(a, keys, keys, key_padding_mask=missing, need_weights=False)[0]
        return h + self.ff(self.norm2(h))


class CurvePFN(nn.Module):
    """Observed (x, y) pairs and query x's -> logits over the buckets at each query."""

    def __init__(self, settings: PfnSettings):
        super().__init__()
        self.settings = settings
        self.enc_x = _scalar_encoder(settings.d_model)
        self.enc_y = _scalar_encoder(settings.d_model)
        self.blocks = nn.ModuleList(Block(settings) for _ in range(settings.n_layers))
        self.norm = nn.LayerNorm(settings.d_model)
        self.head = nn.Sequential(nn.Linear(settings.d_model, settings.d_ff), nn.GELU(),
                                  nn.Linear(settings.d_ff, settings.buckets))

    def forward(self, x_obs: torch.Tensor, y_obs: torch.Tensor, x_query: torch.Tensor,
                missing: torch.Tensor | None = None) -> torch.Tensor:
        """x_obs, y_obs: batch × N (NaN y = missing, also if ``missing`` is None);
        x_query: batch × Q. Returns batch × Q × K logits. Each row needs one observed y."""
        nan = torch.isnan(y_obs)
        missing = nan if missing is None else missing | nan
        y_obs = torch.where(nan, torch.zeros_like(y_obs), y_obs)
        observed = self.enc_x(x_obs[..., None]) + self.enc_y(y_obs[..., None])
        h = torch.cat([observed, self.enc_x(x_query[..., None])], dim=1)
        mask = missing if bool(missing.any()) else None
        n_obs = x_obs.shape[1]
        for block in self.blocks:
            h = block(h, n_obs, mask)
        return self.head(self.norm(h[:, n_obs:]))


# ---- the bar distribution -------------------------------------------------------------


def bucket_of(y: torch.Tensor, buckets: int) -> torch.Tensor:
    """Index of the equal-width bucket on [0, 1] holding y (1 falls in the last)."""
    return torch.clamp((y * buckets).long(), 0, buckets - 1)


def log_density(logits: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Log density of y under the bar distribution: log p_k + log K."""
    buckets = logits.shape[-1]
    log_p = torch.log_softmax(logits, dim=-1)
    picked = torch.gather(log_p, -1, bucket_of(y, buckets)[..., None])[..., 0]
    return picked + torch.log(torch.tensor(float(buckets)))


def quantiles(logits: torch.Tensor, u: torch.Tensor) -> torch.Tensor:
    """y at probability levels u (… × S) per query (logits … × K): the inverse CDF,
    linear inside a bucket. Returns … × S."""
    buckets = logits.shape[-1]
    p = torch.softmax(logits.double(), dim=-1)
    cdf = torch.cumsum(p, dim=-1)
    cdf = cdf / cdf[..., -1:]
    u = u.double().contiguous()
    k = torch.clamp(torch.searchsorted(cdf.contiguous(), u), 0, buckets - 1)
    upper = torch.gather(cdf, -1, k)
    mass = torch.gather(p, -1, k) / cdf[..., -1:]
    within = torch.clamp(1.0 - (upper - u) / torch.clamp(mass, min=1e-300), 0.0, 1.0)
    return ((k + within) / buckets).to(logits.dtype)


def weights_sha256(state: dict[str, torch.Tensor]) -> str:
    """SHA-256 of a state dict: names, dtypes, shapes and bytes, in key order."""
    digest = hashlib.sha256()
    for name in sorted(state):
        tensor = state[name].detach().cpu().contiguous()
        digest.update(f"{name}|{tensor.dtype}|{tuple(tensor.shape)}|".encode())
        digest.update(tensor.reshape(-1).view(torch.uint8).numpy().tobytes())
    return digest.hexdigest()
