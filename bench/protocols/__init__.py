"""Named metric protocols: every setting that changes a PSNR/SSIM number, written down once.

A protocol fixes the input crop, the colour space, 8-bit rounding, the border, the SSIM window
and covariance estimator, and the library (backend) that computes the numbers. Its ``spec``
(``"allinone-rgb"``, ``"y-bt601@pyiqa"``...) is stored with every record, so two numbers computed
under different conventions never land in the same table cell unnoticed.

Protocols are the rows of :data:`_TABLE` below; backends are looked up in :data:`BACKENDS`
(imported lazily: listing protocols imports neither numpy-heavy libraries nor pyiqa).

Image conventions (see :mod:`abair.imageops`): arrays are HxWx3 RGB, ``uint8`` 0..255 or float in
[0, 1]; tensors are NCHW float in [0, 1].

PSNR of two identical images is ``float('inf')`` (a float, so records stay numeric; CSV writes it
as ``inf`` and pandas reads it back as ``inf``).
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

__all__ = ["BACKENDS", "PROTOCOL_NAMES", "Protocol", "get_protocol", "list_protocols"]

LIST_COMMAND = "abair-bench protocols list"

#: metric backends: name -> object with ``missing()``, ``deviation(protocol)``,
#: ``score_arrays(protocol, restored, clean)`` and ``score_tensors(protocol, restored, clean)``.
BACKENDS = Registry("metric backend", LIST_COMMAND)
BACKENDS.register("skimage", "bench.protocols.skimage_backend:BACKEND",
                  summary="scikit-image on numpy float64, one image at a time (the reference)")
BACKENDS.register("pyiqa", "bench.protocols.pyiqa_backend:BACKEND",
                  summary="pyiqa functions on torch float64, batched, on the tensors' device (GPU)")

COLOURS = ("rgb", "y-bt601")
SSIM_WINDOWS = ("uniform", "gaussian")


def _higher_is_better() -> dict[str, bool]:
    return {"psnr": True, "ssim": True}


@dataclass(frozen=True)
class Protocol:
    """One named way of scoring a restored image against its clean reference.

    Fields (all of them go into :meth:`settings` and the run manifest):

    - ``colour``: ``"rgb"`` (floats in [0, 1], data range 1) or ``"y-bt601"`` (BT.601 studio-range
      luma on the 8-bit scale, 16..235, data range 255).
    - ``input_crop_multiple``: both images are centre-cropped so H and W are multiples of this
      *before* the method runs (:meth:`prepare_pair`); 1 = no crop.
    - ``border``: pixels shaved from each side before scoring.
    - ``round_to_uint8``: the restored RGB is rounded to 8-bit levels (as a saved PNG would be)
      and the scored channels are rounded to 8-bit levels of their data range.
    - ``ssim_window`` / ``ssim_size`` / ``ssim_sigma``: ``"uniform"`` ``size x size`` or ``"gaussian"``
      ``size x size`` with standard deviation ``sigma`` (pixels).
    - ``ssim_sample_covariance``: local variances/covariance divided by N-1 (skimage default) instead
      of N (Wang et al. 2004).
    - ``backend``: ``"skimage"`` (reference) or ``"pyiqa"``.
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
    metrics: tuple[str, ...] = ("psnr", "ssim")
    higher_is_better: dict = field(default_factory=_higher_is_better, hash=False)

    def __post_init__(self):
        checks = [
            (self.colour in COLOURS, f"colour must be one of {COLOURS}"),
            (self.ssim_window in SSIM_WINDOWS, f"ssim_window must be one of {SSIM_WINDOWS}"),
            (self.ssim_size % 2 == 1 and self.ssim_size >= 3, "ssim_size must be odd and >= 3"),
            ((self.ssim_sigma is not None) == (self.ssim_window == "gaussian"),
             "ssim_sigma is required for (and only for) a gaussian window"),
            (self.input_crop_multiple >= 1, "input_crop_multiple must be >= 1"),
            (self.border >= 0, "border must be >= 0"),
            (self.backend in BACKENDS, f"backend must be one of {BACKENDS.names()}"),
            (set(self.metrics) <= set(self.higher_is_better), "every metric needs a direction"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(f"protocol '{self.name}': {message}")

    # ---------------------------------------------------------------- identity
    @property
    def spec(self) -> str:
        """The string stored in every record: the name, plus ``@backend`` unless it is skimage."""
        return self.name if self.backend == "skimage" else f"{self.name}@{self.backend}"

    def settings(self) -> dict[str, Any]:
        """Every field (plus ``spec``) as a JSON-serialisable dict, for the manifest."""
        out: dict[str, Any] = {"spec": self.spec}
        out.update(dataclasses.asdict(self))
        out["metrics"] = list(self.metrics)
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
        self._check_window(clean.shape[0], clean.shape[1])
        return self._backend().score_arrays(self, _unit_float(restored), _unit_float(clean))

    def score_batch(self, restored: torch.Tensor, clean: torch.Tensor) -> list[dict[str, float]]:
        """Score a batch: NCHW float tensors in [0, 1] -> one ``{"psnr", "ssim"}`` dict per image.

        ``clean`` must hold 8-bit levels (k/255, as it comes from a uint8 image). The pyiqa backend
        computes on the tensors' device in one batched call; the skimage backend loops on the CPU.
        """
        if tuple(restored.shape) != tuple(clean.shape):
            raise UserError(
                f"protocol {self.spec}: restored batch has shape {tuple(restored.shape)} but the clean "
                f"batch has shape {tuple(clean.shape)}; a method must return its input's size"
            )
        if restored.ndim != 4 or restored.shape[1] != 3:
            raise ValueError(f"expected NCHW tensors with 3 channels, got shape {tuple(restored.shape)}")
        self._check_window(restored.shape[2], restored.shape[3])
        return self._backend().score_tensors(self, restored, clean)

    # ---------------------------------------------------------------- helpers
    def _backend(self):
        return BACKENDS.load(self.backend)

    def _check_window(self, height: int, width: int) -> None:
        h, w = height - 2 * self.border, width - 2 * self.border
        if min(h, w) < self.ssim_size:
            raise UserError(
                f"protocol {self.spec}: image of {height}x{width} pixels (border {self.border}) is smaller "
                f"than the {self.ssim_size}x{self.ssim_size} SSIM window; SSIM needs at least "
                f"{self.ssim_size + 2 * self.border} pixels per side"
            )


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


# The protocols, one row each. Add a row here to add a protocol; nothing else changes.
_TABLE: tuple[Protocol, ...] = (
    Protocol(
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
    ),
    Protocol(
        name="y-bt601",
        summary="luma Y = 16 + 65.481R + 128.553G + 24.966B (BT.601 studio range, MATLAB rgb2ycbcr) of the "
        "8-bit-rounded output, rounded; PSNR data range 255; SSIM 11x11 Gaussian sigma 1.5, population "
        "covariance, float64 (Wang et al.); full image, no border (Restormer deraining, SwinIR style)",
        colour="y-bt601",
        input_crop_multiple=1,
        border=0,
        round_to_uint8=True,
        ssim_window="gaussian",
        ssim_size=11,
        ssim_sigma=1.5,
        ssim_sample_covariance=False,
    ),
)
_BY_NAME = {p.name: p for p in _TABLE}
PROTOCOL_NAMES: tuple[str, ...] = tuple(_BY_NAME)


def list_protocols() -> list[Protocol]:
    """The protocols with the reference (skimage) backend, in table order."""
    return list(_TABLE)


def get_protocol(spec: str) -> Protocol:
    """``"name"`` or ``"name@backend"`` -> :class:`Protocol`; :class:`UserError` for unknown parts.

    Selecting a backend whose library is missing (``@pyiqa`` without pyiqa) is a UserError telling
    how to install it. The library itself is imported only when scoring starts.
    """
    name, _, backend = spec.strip().partition("@")
    if name not in _BY_NAME:
        raise unknown_name("protocol", name, PROTOCOL_NAMES, LIST_COMMAND)
    base = _BY_NAME[name]
    backend = backend or "skimage"
    if backend not in BACKENDS:
        raise unknown_name("metric backend", backend, BACKENDS.names())
    if backend == base.backend:
        return base
    impl = BACKENDS.load(backend)
    problem = impl.missing()
    if problem:
        raise UserError(f"protocol {spec}: {problem}")
    summary = f"{base.summary}. Backend {backend}: {impl.deviation(base)}"
    return dataclasses.replace(base, backend=backend, summary=summary)
