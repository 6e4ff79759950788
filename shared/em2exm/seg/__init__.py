"""Segmentation: B/C/D targets, a PyTC-style 3D residual U-Net, training, and blockwise inference.

Modules: ``targets`` (label -> maps), ``unet`` (model), ``heads`` (input/output conventions), ``losses``,
``augment``, ``sampler`` (patches from array-likes), ``config`` (``SegTrainConfig``, ``InferOptions``), ``trainer``,
``checkpoint`` (bytes in/out), ``window`` (grid, blending, reflect reads), ``predict`` (batched windows),
``blocks`` (block plans and ``infer_block``/``infer_volume``).
"""
