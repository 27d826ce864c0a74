"""Published restoration architectures, so the authors' released checkpoints load strictly.

- :mod:`.restormer`: Restormer (Zamir et al., CVPR 2022);
- :mod:`.promptir`: PromptIR (Potlapalli et al., NeurIPS 2023);
- :mod:`.airnet`: AirNet (Li et al., CVPR 2022);
- :mod:`.mprnet`: MPRNet (Zamir et al., CVPR 2021), on spandrel-extra-arches' definition (not re-implemented);
- :mod:`.uformer`: Uformer (Wang et al., CVPR 2022);
- :mod:`.xrestormer`: X-Restormer (Chen et al., ECCV 2024);
- :mod:`.loading`: safe (weights-only / safetensors), strict checkpoint loading for all of them.

Nothing here imports torch at package import time beyond the submodules themselves.
"""
