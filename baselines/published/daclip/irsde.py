"""The IR-SDE (Luo et al., ICML 2023) reverse process as DA-CLIP's universal model is sampled.

The forward SDE is a mean-reverting Ornstein-Uhlenbeck process towards the degraded image mu:
``dx = theta_t (mu - x) dt + sigma_t dw`` with ``sigma_t^2 = 2 lambda^2 theta_t`` (lambda the
stationary standard deviation, ``max_sigma``). Restoration starts from ``x_T = mu + lambda * z``
and runs the reverse process for T steps; the network predicts the noise of ``x_t``.

Everything here follows ``utils/sde_utils.py`` (``IRSDE``) of the authors' repository and the
options of ``config/daclip-sde/options/test.yml`` (T 100, cosine schedule, max_sigma 50/255,
eps 0.005, posterior sampling), including the float32 arithmetic on 0-dim tensors:

- cosine schedule over ``T + 2`` steps, ``theta_t = 1 - abar_{t+1} / abar_0`` for t = 0..T, and
  ``cumsum_t = sum_{s<=t} theta_s - theta_0``; ``dt = -log(eps) / cumsum_T`` (so that
  ``exp(-cumsum_T dt) = eps``); ``sigma_bar_t = lambda sqrt(1 - exp(-2 cumsum_t dt))``;
- posterior step (``reverse_posterior_step``): ``x0 = (x_t - mu - sigma_bar_t eps_hat) exp(cumsum_t dt) + mu``,
  then with ``A = exp(-theta_t dt)``, ``B = exp(-cumsum_t dt)``, ``C = exp(-cumsum_{t-1} dt)``:
  ``x_{t-1} = A (1 - C^2)/(1 - B^2) (x_t - mu) + C (1 - A^2)/(1 - B^2) (x0 - mu) + mu + std_t z``,
  ``std_t = lambda sqrt(max((1 - A^2)(1 - C^2)/(1 - B^2), 1e-20 dt))``;
- SDE step (``reverse_sde_step``): score ``= -eps_hat / sigma_bar_t``,
  ``x_{t-1} = x_t - (theta_t (mu - x_t) - sigma_t^2 score) dt - sigma_t sqrt(dt) z``.

Fewer steps: the authors' ``IRSDE(..., sample_T=S)`` builds the schedule over S steps and calls the
network at time ``t * T / S``; ``steps`` here does the same (T = ``train_steps`` = 100).
"""

from __future__ import annotations

import math

import torch

__all__ = ["IRSDE_DEFAULTS", "IRSDESchedule", "SAMPLING_MODES"]

IRSDE_DEFAULTS = {"max_sigma": 50, "train_steps": 100, "steps": 100, "schedule": "cosine", "eps": 0.005,
                  "sampling": "posterior"}
SAMPLING_MODES = ("posterior", "sde")


def cosine_thetas(steps: int, s: float = 0.008) -> torch.Tensor:
    """theta_0 .. theta_steps of the cosine schedule (float32), as ``cosine_theta_schedule``."""
    n = steps + 2
    x = torch.linspace(0, n, n + 1, dtype=torch.float32)
    abar = torch.cos(((x / n) + s) / (1 + s) * math.pi * 0.5) ** 2
    abar = abar / abar[0]
    return 1 - abar[1:-1]


class IRSDESchedule:
    """The reverse process of one configuration. ``max_sigma`` in 0..255 units when >= 1 (50 -> 50/255)."""

    def __init__(self, steps: int = 100, max_sigma: float = 50, eps: float = 0.005, train_steps: int = 100,
                 schedule: str = "cosine"):
        if schedule != "cosine":
            raise ValueError(f"only the cosine schedule (the released model's) is implemented, got {schedule!r}")
        self.steps, self.train_steps = int(steps), int(train_steps)
        self.max_sigma = max_sigma / 255 if max_sigma >= 1 else max_sigma
        self.eps = eps
        self.time_scale = self.train_steps / self.steps
        thetas = cosine_thetas(self.steps)
        self.thetas = thetas
        self.sigmas = torch.sqrt(self.max_sigma ** 2 * 2 * thetas)
        self.thetas_cumsum = torch.cumsum(thetas, dim=0) - thetas[0]
        self.dt = -1 / self.thetas_cumsum[-1] * math.log(eps)  # a 0-dim float32 tensor
        self.sigma_bars = torch.sqrt(self.max_sigma ** 2 * (1 - torch.exp(-2 * self.thetas_cumsum * self.dt)))

    def to(self, device) -> IRSDESchedule:
        for name in ("thetas", "sigmas", "thetas_cumsum", "dt", "sigma_bars"):
            setattr(self, name, getattr(self, name).to(device))
        return self

    def model_time(self, t: int) -> float:
        """The time the network is called with at step t (``t * T / steps``)."""
        return t * self.time_scale

    def initial_state(self, mu: torch.Tensor, z: torch.Tensor) -> torch.Tensor:
        """x_T = mu + max_sigma z (``noise_state``)."""
        return mu + z * self.max_sigma

    def x0_from_noise(self, xt, mu, noise, t: int):
        a = torch.exp(self.thetas_cumsum[t] * self.dt)
        return (xt - mu - self.sigma_bars[t] * noise) * a + mu

    def posterior_mean(self, xt, x0, mu, t: int):
        a = torch.exp(-self.thetas[t] * self.dt)
        b = torch.exp(-self.thetas_cumsum[t] * self.dt)
        c = torch.exp(-self.thetas_cumsum[t - 1] * self.dt)
        term1 = a * (1 - c ** 2) / (1 - b ** 2)
        term2 = c * (1 - a ** 2) / (1 - b ** 2)
        return term1 * (xt - mu) + term2 * (x0 - mu) + mu

    def posterior_std(self, t: int):
        a = torch.exp(-2 * self.thetas[t] * self.dt)
        b = torch.exp(-2 * self.thetas_cumsum[t] * self.dt)
        c = torch.exp(-2 * self.thetas_cumsum[t - 1] * self.dt)
        var = (1 - a) * (1 - c) / (1 - b)
        log_var = torch.log(torch.clamp(var, min=1e-20 * self.dt))
        return (0.5 * log_var).exp() * self.max_sigma

    def posterior_step(self, xt, mu, noise, t: int, z):
        """x_{t-1} from x_t, the predicted noise and a standard normal draw z (``reverse_posterior_step``)."""
        x0 = self.x0_from_noise(xt, mu, noise, t)
        return self.posterior_mean(xt, x0, mu, t) + self.posterior_std(t) * z

    def sde_step(self, xt, mu, noise, t: int, z):
        """x_{t-1} by the reverse-time SDE's Euler-Maruyama step (``reverse_sde_step``)."""
        score = -noise / self.sigma_bars[t]
        drift = (self.thetas[t] * (mu - xt) - self.sigmas[t] ** 2 * score) * self.dt
        return xt - drift - self.sigmas[t] * (z * math.sqrt(self.dt))

    def step(self, mode: str, xt, mu, noise, t: int, z):
        return self.posterior_step(xt, mu, noise, t, z) if mode == "posterior" else self.sde_step(xt, mu, noise, t, z)

    def describe(self) -> dict:
        return {"steps": self.steps, "train_steps": self.train_steps, "schedule": "cosine",
                "max_sigma": round(self.max_sigma * 255, 6), "max_sigma_units": "/255", "eps": self.eps,
                "network_time": f"t * {self.train_steps}/{self.steps} for t = {self.steps}..1"}
