"""Uncertainty of per-image means: bootstrap intervals and paired comparisons.

Every interval here is a **BCa bootstrap** (bias-corrected and accelerated; Efron 1987) interval
of a mean of per-image values, seeded so that a report is reproducible byte for byte:

- resample the images with replacement ``n_boot`` times (numpy ``default_rng(seed)``), take the
  statistic of each resample;
- bias correction ``z0 = Phi^-1(share of resampled statistics < the observed one)`` (ties count
  half), acceleration ``a`` from the jackknife (leave one image out);
- the interval is the ``Phi(z0 + (z0 + z) / (1 - a (z0 + z)))`` percentiles of the resampled
  statistics for ``z = Phi^-1(alpha/2)`` and ``Phi^-1(1 - alpha/2)``.

``method="percentile"`` gives the plain percentile interval instead. A composite statistic (the
paper's Average = a weighted mean of several datasets' means) is bootstrapped by resampling each
dataset's images independently (a stratified bootstrap); its jackknife leaves one image out of
one dataset at a time.

Values are whatever unit the records hold (PSNR in dB, SSIM in 0..1). Non-finite values (PSNR of an
identical image is ``inf``) give a ``nan`` interval.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

METHODS = ("bca", "percentile")
DEFAULT_N_BOOT = 2000
DEFAULT_CONFIDENCE = 0.95
DEFAULT_SEED = 0


@dataclass(frozen=True)
class Interval:
    """A mean with its bootstrap interval (``low``/``high`` in the values' unit)."""

    mean: float
    low: float
    high: float
    n: int

    @property
    def half_width(self) -> float:
        """Half the interval's width: what the report prints after ``±`` (the interval may be skewed)."""
        return (self.high - self.low) / 2


def _as_arrays(groups) -> list[np.ndarray]:
    import numpy as np

    return [np.asarray(g, dtype=np.float64).ravel() for g in groups]


def _bca_bounds(boot: np.ndarray, observed: float, jack: np.ndarray, alpha: float) -> tuple[float, float]:
    import numpy as np
    from scipy.special import ndtr, ndtri

    share = (np.count_nonzero(boot < observed) + 0.5 * np.count_nonzero(boot == observed)) / boot.size
    share = min(max(share, 0.5 / boot.size), 1 - 0.5 / boot.size)
    z0 = ndtri(share)
    d = jack.mean() - jack
    denom = 6.0 * (np.sum(d**2) ** 1.5)
    a = float(np.sum(d**3) / denom) if denom > 0 else 0.0
    out = []
    for z in (ndtri(alpha / 2), ndtri(1 - alpha / 2)):
        q = ndtr(z0 + (z0 + z) / (1 - a * (z0 + z)))
        out.append(float(np.quantile(boot, q)))
    return out[0], out[1]


def weighted_means_interval(
    groups, weights=None, *, n_boot: int = DEFAULT_N_BOOT, confidence: float = DEFAULT_CONFIDENCE,
    seed: int = DEFAULT_SEED, method: str = "bca",
) -> Interval:
    """Interval of ``sum_k w_k * mean(groups[k])`` (weights default to ``1/K``: the mean of means).

    ``groups``: a sequence of 1-D arrays of per-image values (one per dataset). Each group is
    resampled on its own (stratified bootstrap). ``n`` of the result is the total image count.
    """
    import numpy as np

    if method not in METHODS:
        raise ValueError(f"bootstrap method must be one of {METHODS}, got {method!r}")
    arrays = _as_arrays(groups)
    if not arrays or any(a.size == 0 for a in arrays):
        raise ValueError("every group needs at least one value")
    k = len(arrays)
    w = np.full(k, 1.0 / k) if weights is None else np.asarray(weights, dtype=np.float64)
    means = np.array([a.mean() for a in arrays])
    observed = float(w @ means)
    total = int(sum(a.size for a in arrays))
    if not np.all([np.isfinite(a).all() for a in arrays]):
        return Interval(observed, float("nan"), float("nan"), total)
    if all(a.size < 2 or np.ptp(a) == 0 for a in arrays):
        # nothing varies under resampling (single images or constant values): a degenerate interval
        spread = float("nan") if all(a.size < 2 for a in arrays) else observed
        return Interval(observed, spread, spread, total)
    rng = np.random.default_rng(seed)
    boot = np.zeros(n_boot)
    jack_parts = []
    for weight, a in zip(w, arrays, strict=True):
        idx = rng.integers(0, a.size, size=(n_boot, a.size))
        boot += weight * a[idx].mean(axis=1)
        if a.size > 1:
            loo = (a.sum() - a) / (a.size - 1)  # the group's mean without each image
            jack_parts.append(observed + weight * (loo - a.mean()))
    alpha = 1 - confidence
    if method == "percentile" or not jack_parts:
        low, high = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
        return Interval(observed, float(low), float(high), total)
    low, high = _bca_bounds(boot, observed, np.concatenate(jack_parts), alpha)
    return Interval(observed, low, high, total)


def mean_interval(values, **kwargs) -> Interval:
    """Bootstrap interval of the mean of one set of per-image values (see the module docstring)."""
    return weighted_means_interval([values], [1.0], **kwargs)


@dataclass(frozen=True)
class PairedComparison:
    """``a`` vs ``b`` on the same images; ``delta`` = a - b per image (metric units)."""

    a: str
    b: str
    n: int
    mean_a: float
    mean_b: float
    mean_delta: float
    delta_low: float
    delta_high: float
    wins: int  # images where a > b
    losses: int  # images where a < b
    ties: int
    wilcoxon_p: float

    @property
    def win_rate(self) -> float:
        """Share of the images on which ``a`` scores strictly higher than ``b`` (ties are not wins)."""
        return self.wins / self.n if self.n else float("nan")

    @property
    def significant(self) -> bool:
        """Whether the interval of the mean difference excludes 0."""
        return bool(self.delta_low > 0 or self.delta_high < 0)


def paired_comparison(
    a, b, *, name_a: str = "a", name_b: str = "b", n_boot: int = DEFAULT_N_BOOT,
    confidence: float = DEFAULT_CONFIDENCE, seed: int = DEFAULT_SEED, method: str = "bca",
) -> PairedComparison:
    """Compare two methods image by image.

    ``a`` and ``b``: pandas Series of per-image values indexed by image id (only the ids in both
    are compared), or equal-length 1-D arrays in the same image order. Returns the mean difference
    with its bootstrap interval (the images are resampled as pairs), wins/losses/ties, and the
    two-sided Wilcoxon signed-rank p-value (``scipy.stats.wilcoxon``, zero differences dropped,
    the ``wilcox`` convention; ``1.0`` when every difference is zero).
    """
    import numpy as np
    from scipy.stats import wilcoxon

    if hasattr(a, "index") and hasattr(b, "index"):
        common = a.index.intersection(b.index)
        x = a.loc[common].to_numpy(dtype=np.float64)
        y = b.loc[common].to_numpy(dtype=np.float64)
    else:
        x, y = (np.asarray(v, dtype=np.float64).ravel() for v in (a, b))
        if x.shape != y.shape:
            raise ValueError(f"paired values need one length, got {x.size} and {y.size}")
    n = int(x.size)
    if n == 0:
        raise ValueError(f"{name_a} and {name_b} have no image in common")
    d = x - y
    ci = mean_interval(d, n_boot=n_boot, confidence=confidence, seed=seed, method=method)
    nonzero = d[d != 0]
    if nonzero.size == 0 or not np.isfinite(d).all():
        p = 1.0 if nonzero.size == 0 else float("nan")
    else:
        p = float(wilcoxon(d, zero_method="wilcox", alternative="two-sided").pvalue)
    return PairedComparison(
        a=name_a, b=name_b, n=n, mean_a=float(x.mean()), mean_b=float(y.mean()), mean_delta=float(d.mean()),
        delta_low=ci.low, delta_high=ci.high, wins=int((d > 0).sum()), losses=int((d < 0).sum()),
        ties=int((d == 0).sum()), wilcoxon_p=p,
    )
