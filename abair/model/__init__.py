"""The ABAIR model: backbone, adapters, degradation estimator, segmentation head, presets, checkpoints.

Importing this package imports torch. Main entry points:

- :func:`abair.model.presets.build` / :data:`abair.model.presets.PRESETS`: build ``tiny``/``small``/``paper``;
- :class:`abair.model.abair.ABAIR`: the model (``forward(x, mode=...)``, adapter API);
- :mod:`abair.model.checkpoint`: ``save``/``load`` whole models, ``save_adapter``/``load_adapter``.

See docs/MODEL.md for the architecture and every choice made where the paper is silent.
"""

from .abair import ABAIR, DEGRADATION_CLASSES, ABAIRConfig
from .adapters import AdapterSpec
from .presets import PRESETS, build, count_params

__all__ = ["ABAIR", "ABAIRConfig", "AdapterSpec", "DEGRADATION_CLASSES", "PRESETS", "build", "count_params"]
