"""The offline phantom cohort: T1 MRI and FDG-PET simulated from the MNI152 templates (see DESIGN.md).

``cohort`` draws who is in it (group, latent severity, age, sex, site, PET kept or not),
``template_space`` holds the templates on the working grid, ``simulate`` makes one subject's images,
``geometry`` and ``fields`` are the scanner grids, poses and smooth random fields, ``build`` writes
everything and checks an existing manifest, ``cli`` is ``mrisynth phantom``.
"""
