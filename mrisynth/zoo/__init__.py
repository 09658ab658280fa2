"""General-purpose generative models (2D and 3D via ``spatial_dims``); imports nothing medical.

``base`` (the model contract), ``registry`` (models by name), ``train`` (the one trainer), ``nets``,
``losses`` and ``models``.
"""
