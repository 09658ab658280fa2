"""Preprocessing to template space: T1 (N4, affine, skull strip, normalise), PET (rigid to T1, SUVR), QC.

Modules: ``images`` (validated reading, output grid), ``registration`` (SimpleITK N4 and Mattes-MI
registration), ``t1``, ``pet``, ``qc``, ``outputs`` (derivative file names: the single source of truth
for the workflow and later stages), ``cli`` (``mrisynth preprocess``, ``mrisynth qc-summary``).
"""
