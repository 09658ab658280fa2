"""junyanz's ImagePool (Shrivastava et al. 2017) with its own seeded generator and checkpointable state."""

from __future__ import annotations

import torch


class ImagePool:
    """Holds up to ``size`` past fakes; each queried image is returned as is (p = 0.5) or swapped with a
    random stored one (p = 0.5, the new one takes its place). ``size=0`` returns the input unchanged.

    Randomness comes from a private ``torch.Generator`` seeded with ``seed``, so the pool neither uses
    nor disturbs the global RNG, and ``state_dict`` restores it exactly.
    """

    def __init__(self, size: int = 50, seed: int = 0):
        self.size = size
        self.generator = torch.Generator().manual_seed(seed)
        self.images: list[torch.Tensor] = []

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        if self.size == 0:
            return images
        out = []
        for image in images.detach():
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator) < 0.5:
                k = int(torch.randint(len(self.images), (), generator=self.generator))
                out.append(self.images[k].clone())
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict:
        return {
            "size": self.size,
            "generator": self.generator.get_state(),
            "images": torch.cat(self.images, 0) if self.images else torch.empty(0),
        }

    def load_state_dict(self, state: dict) -> None:
        self.size = int(state["size"])
        self.generator.set_state(state["generator"])
        self.images = [im.unsqueeze(0) for im in state["images"]] if state["images"].numel() else []
