"""Classical restorers: no weights, real numbers on any machine.

One module per method; each exposes a :class:`baselines.base.Method` subclass and a factory
``make(**options)``. They work on one image at a time (``max_batch = 1``) in float64 numpy, take
the batch as float (N, 3, H, W) in [0, 1] and return the same shape; see :mod:`._common`.

| name            | task     | idea                                                                  |
|-----------------|----------|-----------------------------------------------------------------------|
| ``nlm``         | denoise  | non-local means (scikit-image), strength from the estimated sigma     |
| ``bm3d``        | denoise  | BM3D (the ``bm3d`` package, optional extra ``classical``)             |
| ``dcp``         | dehaze   | dark channel prior + guided-filter refined transmission (He et al.)   |
| ``wiener-ml``   | deblur   | parametric blur identified by maximum likelihood + Wiener/Tikhonov    |
| ``motion-deblur``| deblur  | blind camera shake: L0 kernel estimate, curve projection, safety net,  |
|                 |          | hyper-Laplacian deconvolution with the reflect-border blur model      |
| ``lime``        | lowlight | LIME illumination map (max RGB, structure-aware smoothing, gamma)     |
| ``derain-guided``| derain  | achromatic thin-bright-structure removal + guided-filter refinement   |
| ``deblock``     | jpeg     | JPEG re-applied at 64 grid shifts, quality estimated blindly          |
| ``dequant``     | bitdepth | band-limited smoothing projected back onto the quantisation cells     |
| ``desnow-median``| desnow  | bright-flake detection (opening residual) + median fill + veil removal |
"""
