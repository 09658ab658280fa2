"""The registered models; every module here is imported by ``mrisynth.zoo.registry`` on first use."""
