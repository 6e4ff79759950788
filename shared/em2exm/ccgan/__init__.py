"""CCGAN: 2D/3D CycleGAN (EM -> ExM) whose generators can also predict segmentation (CySGAN-style).

Modules: ``config`` (training and transfer options), ``layers``/``conv``/``resnet``/``patchgan``/``unet3d``/
``heads`` (networks), ``networks`` (building, reference checkpoints), ``losses``, ``pool``, ``schedule``,
``targets``, ``sampler`` (training patches), ``trainer`` (one iteration, resumable state), ``checkpoint``
(bytes IO), ``outputs`` (the ccgan-train folder: atomic writes, loss log, TensorBoard), ``samples`` (PNG grids),
``translate`` (whole volumes, blockwise).
"""
