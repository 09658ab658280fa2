"""mrisynth: impute missing FDG-PET from brain MRI with 3D generative models and predict MCI conversion.

Stages live in sub-packages (phantom, preprocess, synthesis, classify, report); the general-purpose
generative model zoo (``mrisynth.zoo``) and the metrics (``mrisynth.metrics``) sit underneath and import
nothing medical.
"""

__version__ = "0.1.0"
