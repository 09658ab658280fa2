"""Pure loss functions: adversarial objectives (on logits), gradient penalties, BEGAN, reconstruction."""

from mrisynth.zoo.losses.adversarial import ADVERSARIAL, discriminator_loss, generator_loss
from mrisynth.zoo.losses.began import began_d_loss, began_g_loss, began_recon_error, began_update_k
from mrisynth.zoo.losses.penalties import dragan_points, gradient_penalty, interpolates, r1_penalty
from mrisynth.zoo.losses.reconstruction import cycle_loss, identity_loss, l1_loss, l2_loss

__all__ = [
    "ADVERSARIAL",
    "began_d_loss",
    "began_g_loss",
    "began_recon_error",
    "began_update_k",
    "cycle_loss",
    "discriminator_loss",
    "dragan_points",
    "generator_loss",
    "gradient_penalty",
    "identity_loss",
    "interpolates",
    "l1_loss",
    "l2_loss",
    "r1_penalty",
]
