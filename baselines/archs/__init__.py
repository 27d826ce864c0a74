"""Published restoration architectures re-implemented so the authors' released checkpoints load strictly.

- :mod:`.restormer`: Restormer (Zamir et al., CVPR 2022);
- :mod:`.promptir`: PromptIR (Potlapalli et al., NeurIPS 2023);
- :mod:`.airnet`: AirNet (Li et al., CVPR 2022);
- :mod:`.loading`: safe (weights-only / safetensors), strict checkpoint loading for all three.

Nothing here imports torch at package import time beyond the submodules themselves.
"""
