"""Named metric protocols: every setting that changes a PSNR/SSIM number, written down once.

A protocol fixes the input crop, the colour space, 8-bit rounding, the border, the SSIM window
and covariance estimator, and the library (backend) that computes the numbers. Its ``spec``
(``"allinone-rgb"``, ``"y-bt601@pyiqa"``...) is stored with every record, so two numbers computed
under different conventions never land in the same table cell unnoticed.

Protocols are the rows of :data:`_TABLE` below; backends are looked up in :data:`BACKENDS`
(imported lazily: listing protocols imports neither numpy-heavy libraries nor pyiqa). A backend
that computes a protocol's numbers exactly (scikit-image, the reference, and the project's own
torch implementation, equal to it within the maxima measured in docs/PROTOCOLS.md) leaves the spec
at the plain name; any other (``@pyiqa``) is part of the spec.

Image conventions (see :mod:`abair.imageops`): arrays are HxWx3 RGB, ``uint8`` 0..255 or float in
[0, 1]; tensors are NCHW float in [0, 1].

PSNR is at most :data:`PSNR_MAX_DB` (120 dB) under every protocol and backend: the MSE is floored at
``(1e-6 L)^2``, so a perfect restoration has one defined value whether its float32 rounding leaves
an MSE of 1e-16 (RGB) or the 8-bit rounding leaves 0 (the lumas), and a mean over images stays finite.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from abair.errors import UserError, unknown_name
from bench.registry import Registry

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np
    import torch

__all__ = ["BACKENDS", "PROTOCOL_NAMES", "PSNR_MAX_DB", "RUNNER_BACKEND", "Protocol", "get_protocol",
           "list_protocols"]

LIST_COMMAND = "abair-bench protocols list"

#: metric backends: name -> object with ``missing()``, ``deviation(protocol)``,
#: ``score_arrays(protocol, restored, clean)`` and ``score_tensors(protocol, restored, clean)``.
BACKENDS = Registry("metric backend", LIST_COMMAND)
BACKENDS.register("skimage", "bench.protocols.skimage_backend:BACKEND",
                  summary="scikit-image on numpy float64, one image at a time (the reference)")
BACKENDS.register("torch", "bench.protocols.torch_backend:BACKEND",
                  summary="the project's exact implementation on torch float64, batched, on the tensors' device")
BACKENDS.register("pyiqa", "bench.protocols.pyiqa_backend:BACKEND",
                  summary="pyiqa functions on torch float64, batched, on the tensors' device (GPU)")
#: the backend ``abair-bench run`` scores with when a spec names none (exact, batched, on the device)
RUNNER_BACKEND = "torch"

COLOURS = ("rgb", "y-bt601", "y-basicsr")

#: the PSNR of a perfect restoration, and the most any image scores (dB): the MSE floored at
#: ``(1e-6 L)^2``, L the data range. A float32 output equal to the clean image (rounding error at most
#: 3e-8, about 150 dB) and an exact one (MSE 0, inf) both score this; an error of one 8-bit level on
#: one of M values scores 48.13 + 10 log10(M) dB, below it for M < 1.5e7. Below the ceiling every
#: backend's number is its library's own.
PSNR_MAX_DB = 120.0
SSIM_WINDOWS = ("uniform", "gaussian")


#: the direction of every metric a protocol can score: True = higher is better (the one definition;
#: reports and tables read it from here)
METRIC_DIRECTIONS: dict[str, bool] = {"psnr": True, "ssim": True, "lpips": False}


def _higher_is_better() -> dict[str, bool]:
    return dict(METRIC_DIRECTIONS)


@dataclass(frozen=True)
class Protocol:
    """One named way of scoring a restored image against its clean reference.

    Fields (all of them go into :meth:`settings` and the run manifest):

    - ``colour``: ``"rgb"`` (floats in [0, 1], data range 1), ``"y-bt601"`` (BT.601 studio-range
      luma as MATLAB's ``rgb2ycbcr`` computes it on a uint8 image: integer levels 16..235, data range
      255) or ``"y-basicsr"`` (the same luma as BasicSR's ``to_y_channel``: unrounded, float32
      precision, 16..235, data range 255). Both lumas take the 8-bit-rounded RGB.
    - ``input_crop_multiple``: both images are centre-cropped so H and W are multiples of this
      *before* the method runs (:meth:`prepare_pair`); 1 = no crop.
    - ``score_crop_multiple``: the restored and clean images are centre-cropped so H and W are
      multiples of this *after* the method ran, before scoring (1 = no crop). With
      ``input_crop_multiple`` 1 it scores a method that saw the whole input (its authors' own
      pipeline) on the same pixels a cropping protocol scores.
    - ``border``: pixels shaved from each side before scoring.
    - ``round_to_uint8``: the restored RGB is rounded to 8-bit levels, half to even (as a saved PNG
      would be); required by the luma colours (their references take uint8 images).
    - ``ssim_window`` / ``ssim_size`` / ``ssim_sigma``: ``"uniform"`` ``size x size`` or ``"gaussian"``
      ``size x size`` with standard deviation ``sigma`` (pixels).
    - ``ssim_sample_covariance``: local variances/covariance divided by N-1 (skimage default) instead
      of N (Wang et al. 2004).
    - ``backend``: the library that computes the numbers (``"skimage"``, ``"torch"``, ``"pyiqa"``).
    - ``exact_backends``: the backends that compute this protocol's numbers exactly, the reference
      first; under them the spec is the plain name.
    """

    name: str
    summary: str
    colour: str
    input_crop_multiple: int
    border: int
    round_to_uint8: bool
    ssim_window: str
    ssim_size: int
    ssim_sigma: float | None
    ssim_sample_covariance: bool
    backend: str = "skimage"
    score_crop_multiple: int = 1
    metrics: tuple[str, ...] = ("psnr", "ssim")
    exact_backends: tuple[str, ...] = ("skimage", "torch")
    higher_is_better: dict = field(default_factory=_higher_is_better, hash=False)

    def __post_init__(self):
        checks = [
            (self.colour in COLOURS, f"colour must be one of {COLOURS}"),
            (self.ssim_window in SSIM_WINDOWS, f"ssim_window must be one of {SSIM_WINDOWS}"),
            (self.ssim_size % 2 == 1 and self.ssim_size >= 3, "ssim_size must be odd and >= 3"),
            ((self.ssim_sigma is not None) == (self.ssim_window == "gaussian"),
             "ssim_sigma is required for (and only for) a gaussian window"),
            (self.input_crop_multiple >= 1, "input_crop_multiple must be >= 1"),
            (self.score_crop_multiple >= 1, "score_crop_multiple must be >= 1"),
            (self.border >= 0, "border must be >= 0"),
            (self.backend in BACKENDS, f"backend must be one of {BACKENDS.names()}"),
            (self.colour == "rgb" or self.round_to_uint8, "a luma colour needs round_to_uint8 (8-bit input)"),
            (set(self.exact_backends) <= set(BACKENDS.names()), "exact_backends must be backends"),
            (set(self.metrics) <= set(self.higher_is_better), "every metric needs a direction"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"protocol '{self.name}': {message}")

    # ---------------------------------------------------------------- identity
    @property
    def spec(self) -> str:
        """The string stored in every record: the name, plus ``@backend`` unless that backend is exact."""
        return self.name if self.backend in self.exact_backends else f"{self.name}@{self.backend}"

    @property
    def label(self) -> str:
        """The name, plus ``@backend`` unless it is the reference: names how the numbers were computed."""
        return self.name if self.backend == self.exact_backends[0] else f"{self.name}@{self.backend}"

    def settings(self) -> dict[str, Any]:
        """Every field (plus ``spec`` and ``label``) as a JSON-serialisable dict, for the manifest; a
        learned metric adds ``weights_sha256`` (its weight files' hashes, the only ones it scores with)."""
        from .learned import weight_hashes

        out: dict[str, Any] = {"spec": self.spec, "label": self.label}
        out.update(dataclasses.asdict(self))
        out["metrics"] = list(self.metrics)
        out["exact_backends"] = list(self.exact_backends)
        if hashes := weight_hashes(self.metrics):
            out["weights_sha256"] = hashes
        return out

    # ---------------------------------------------------------------- scoring
    def prepare_pair(self, degraded: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Apply the input crop to a uint8 HxWx3 pair (centre crop to ``input_crop_multiple``).

        Called before the method runs; the crop offsets are rounded down (481x321 -> 480x320
        keeps rows/columns 0..479/0..319). Returns views, not copies.
        """
        if degraded.shape != clean.shape:
            raise UserError(
                f"protocol {self.spec}: degraded image has shape {tuple(degraded.shape)} but the clean "
                f"image has shape {tuple(clean.shape)}; a pair must have one size"
            )
        if self.input_crop_multiple == 1:
            return degraded, clean
        from abair.imageops import crop_to_multiple

        h, w = clean.shape[:2]
        m = self.input_crop_multiple
        if h < m or w < m:
            raise UserError(
                f"protocol {self.spec}: image of {h}x{w} pixels is smaller than the input crop "
                f"multiple {m}; use a protocol without an input crop (e.g. y-bt601)"
            )
        return crop_to_multiple(degraded, m), crop_to_multiple(clean, m)

    def score(self, restored: np.ndarray, clean: np.ndarray) -> dict[str, float]:
        """Score one image: ``{"psnr": dB, "ssim": 0..1}``.

        ``restored``: HxWx3 float in [0, 1] (values outside are clipped) or uint8 0..255.
        ``clean``: uint8 HxWx3 of the same size (else :class:`UserError` naming both shapes).
        """
        import numpy as np

        if tuple(restored.shape) != tuple(clean.shape):
            raise UserError(
                f"protocol {self.spec}: restored image has shape {tuple(restored.shape)} but the clean "
                f"image has shape {tuple(clean.shape)}; a method must return its input's size"
            )
        if clean.dtype != np.uint8 or clean.ndim != 3 or clean.shape[2] != 3:
            raise ValueError(f"clean must be uint8 HxWx3, got {clean.dtype} {clean.shape}")
        if self.score_crop_multiple > 1:
            from abair.imageops import crop_to_multiple

            restored, clean = (crop_to_multiple(a, self.score_crop_multiple) for a in (restored, clean))
        self._check_window(clean.shape[0], clean.shape[1])
        return _psnr_ceiling(self._backend().score_arrays(self, _unit_float(restored), _unit_float(clean)))

    def score_batch(self, restored: torch.Tensor, clean: torch.Tensor) -> list[dict[str, float]]:
        """Score a batch: NCHW float tensors in [0, 1] (or uint8 0..255) -> one ``{"psnr", "ssim"}``
        dict per image.

        ``clean`` must hold 8-bit levels (k/255, as it comes from a uint8 image). The torch and pyiqa
        backends compute on the tensors' device in one batched call; the skimage backend loops on the CPU.
        """
        if tuple(restored.shape) != tuple(clean.shape):
            raise UserError(
                f"protocol {self.spec}: restored batch has shape {tuple(restored.shape)} but the clean "
                f"batch has shape {tuple(clean.shape)}; a method must return its input's size"
            )
        if restored.ndim != 4 or restored.shape[1] != 3:
            raise ValueError(f"expected NCHW tensors with 3 channels, got shape {tuple(restored.shape)}")
        if self.score_crop_multiple > 1:  # the same centre crop as crop_to_multiple (offsets rounded down)
            h, w = restored.shape[2:]
            m = self.score_crop_multiple
            top, left = (h % m) // 2, (w % m) // 2
            restored, clean = (t[..., top:top + h - h % m, left:left + w - w % m] for t in (restored, clean))
        self._check_window(restored.shape[2], restored.shape[3])
        return [_psnr_ceiling(scores) for scores in self._backend().score_tensors(self, restored, clean)]

    # ---------------------------------------------------------------- helpers
    def _backend(self):
        return BACKENDS.load(self.backend)

    def _check_window(self, height: int, width: int) -> None:
        h, w = height - 2 * self.border, width - 2 * self.border
        if "ssim" in self.metrics and min(h, w) < self.ssim_size:
            raise UserError(
                f"protocol {self.spec}: image of {height}x{width} pixels (border {self.border}) is smaller "
                f"than the {self.ssim_size}x{self.ssim_size} SSIM window; SSIM needs at least "
                f"{self.ssim_size + 2 * self.border} pixels per side"
            )


def _psnr_ceiling(scores: dict[str, float]) -> dict[str, float]:
    """``scores`` with PSNR at most :data:`PSNR_MAX_DB` (``inf`` and anything above it become it)."""
    if "psnr" in scores and scores["psnr"] > PSNR_MAX_DB:
        scores = {**scores, "psnr": PSNR_MAX_DB}
    return scores


def _unit_float(image: np.ndarray) -> np.ndarray:
    """uint8 HxWx3 -> float64 in [0, 1] (via :mod:`abair.imageops`); float -> float64 clipped to [0, 1]."""
    import numpy as np

    if image.dtype == np.uint8:
        import torch

        from abair.imageops import tensor_to_float_array, uint8_to_tensor

        return tensor_to_float_array(uint8_to_tensor(image, dtype=torch.float64))
    if image.ndim != 3 or image.shape[2] != 3 or not np.issubdtype(image.dtype, np.floating):
        raise ValueError(f"restored must be HxWx3 float in [0, 1] or uint8, got {image.dtype} {image.shape}")
    return np.clip(image.astype(np.float64, copy=False), 0.0, 1.0)


_ALLINONE_RGB = Protocol(
    name="allinone-rgb",
    summary="RGB floats in [0,1], both images centre-cropped to a multiple of 16 before the method "
    "runs; PSNR data range 1; SSIM 7x7 uniform window, sample covariance, mean over channels "
    "(scikit-image defaults); no rounding, no border (AirNet, PromptIR, AdaIR)",
    colour="rgb",
    input_crop_multiple=16,
    border=0,
    round_to_uint8=False,
    ssim_window="uniform",
    ssim_size=7,
    ssim_sigma=None,
    ssim_sample_covariance=True,
)

# The protocols, one row each. Add a row here to add a protocol; nothing else changes.
_TABLE: tuple[Protocol, ...] = (
    _ALLINONE_RGB,
    # allinone-rgb scored on the same pixels, the crop moved from before the method to after it
    dataclasses.replace(
        _ALLINONE_RGB,
        name="allinone-rgb-uncropped",
        summary="allinone-rgb on a method that saw the whole input (its authors' own pipeline, e.g. Restormer "
        "pads to 8 and never crops): no input crop; the restored and clean images are centre-cropped to a "
        "multiple of 16 after the method ran and scored as allinone-rgb (the same pixels)",
        input_crop_multiple=1,
        score_crop_multiple=16,
    ),
    Protocol(
        name="y-bt601",
        summary="luma Y = 16 + 65.481R + 128.553G + 24.966B (BT.601 studio range) of the 8-bit-rounded output "
        "as MATLAB's rgb2ycbcr computes it on uint8 (double precision, rounded half away from zero); PSNR "
        "data range 255; SSIM 11x11 Gaussian sigma 1.5, population covariance, valid region, float64 "
        "(Wang's SSIM_index); full image, no border (Restormer's MATLAB deraining evaluation)",
        colour="y-bt601",
        input_crop_multiple=1,
        border=0,
        round_to_uint8=True,
        ssim_window="gaussian",
        ssim_size=11,
        ssim_sigma=1.5,
        ssim_sample_covariance=False,
    ),
    Protocol(
        name="basicsr-y",
        summary="BasicSR's Python calculate_psnr/calculate_ssim(test_y_channel=True, crop_border=0): the same "
        "luma of the 8-bit-rounded output, unrounded in float32 (to_y_channel); PSNR data range 255; SSIM "
        "11x11 Gaussian sigma 1.5, population covariance, valid region (BasicSR's _ssim), float64",
        colour="y-basicsr",
        input_crop_multiple=1,
        border=0,
        round_to_uint8=True,
        ssim_window="gaussian",
        ssim_size=11,
        ssim_sigma=1.5,
        ssim_sample_covariance=False,
    ),
    Protocol(
        name="lpips",
        summary="LPIPS v0.1 (AlexNet) through pyiqa on the RGB output in [0,1], both images centre-cropped to "
        "a multiple of 16 as allinone-rgb (lower is better); needs local weights: --metric-weights DIR",
        colour="rgb",
        input_crop_multiple=16,
        border=0,
        round_to_uint8=False,
        ssim_window="uniform",
        ssim_size=7,
        ssim_sigma=None,
        ssim_sample_covariance=True,
        backend="pyiqa",
        metrics=("lpips",),
        exact_backends=("pyiqa",),
    ),
)
_BY_NAME = {p.name: p for p in _TABLE}
PROTOCOL_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def list_protocols() -> list[Protocol]:
    """The protocols with their reference backend, in table order."""
    return list(_TABLE)


def get_protocol(spec: str, *, default_backend: str | None = None) -> Protocol:
    """``"name"`` or ``"name@backend"`` -> :class:`Protocol`; :class:`UserError` for unknown parts.

    A bare name takes ``default_backend`` when that backend computes the protocol exactly (the
    runner passes :data:`RUNNER_BACKEND`), else the reference backend. Selecting a backend whose
    library (or, for a learned metric, whose local weights) is missing is a UserError saying what
    to install or download. The library itself is imported only when scoring starts.
    """
    name, _, backend = spec.strip().partition("@")
    if name not in _BY_NAME:
        raise unknown_name("protocol", name, PROTOCOL_NAMES, LIST_COMMAND)
    base = _BY_NAME[name]
    if not backend:
        backend = default_backend if default_backend in base.exact_backends else base.backend
    if backend not in BACKENDS:
        raise unknown_name("metric backend", backend, BACKENDS.names())
    impl = BACKENDS.load(backend)
    problem = impl.missing(base)
    if problem:
        raise UserError(f"protocol {name}@{backend}: {problem}")
    if backend == base.backend:
        return base
    summary = f"{base.summary}. Backend {backend}: {impl.deviation(base)}"
    return dataclasses.replace(base, backend=backend, summary=summary)
