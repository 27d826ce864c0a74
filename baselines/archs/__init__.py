"""What the published methods' checkpoint loading shares.

- :mod:`.loading`: safe (weights-only / safetensors), strict checkpoint loading: reading a file, finding its
  state dict, strict key and shape checks with one-line messages, checkpoint detection over the ports'
  declared signatures, and :class:`~.loading.ArchSpec`, the configuration reader and builder each port
  declares in its folder (``baselines/published/<name>/method.py``).

Each method's own network and loader live in its folder, not here.

Nothing here imports torch at package import time beyond the submodules themselves.
"""
