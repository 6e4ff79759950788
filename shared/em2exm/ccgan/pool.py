"""The image history buffer of Shrivastava et al. (reference ``ImagePool``), with checkpointable state."""

from __future__ import annotations

import torch


class ImagePool:
    """Holds up to ``size`` generated images; once full, each query swaps in half of the time.

    Randomness comes from ``generator`` (a CPU ``torch.Generator``), whose state the trainer checkpoints.
    """

    def __init__(self, size: int, generator: torch.Generator) -> None:
        self.size = size
        self.generator = generator
        self.images: list[torch.Tensor] = []

    @torch.no_grad()
    def query(self, images: torch.Tensor) -> torch.Tensor:
        """Detached images to show the discriminator: new ones, or older ones they replace in the pool."""
        images = images.detach()
        if self.size == 0:
            return images
        out = []
        for image in images:
            image = image.unsqueeze(0)
            if len(self.images) < self.size:
                self.images.append(image.clone())
                out.append(image)
            elif torch.rand((), generator=self.generator).item() > 0.5:
                k = int(torch.randint(self.size, (), generator=self.generator))
                out.append(self.images[k])
                self.images[k] = image.clone()
            else:
                out.append(image)
        return torch.cat(out, 0)

    def state_dict(self) -> dict[str, list[torch.Tensor]]:
        """Pool contents on the CPU."""
        return {"images": [image.cpu() for image in self.images]}

    def load_state_dict(self, state: dict[str, list[torch.Tensor]], device: torch.device) -> None:
        """Restore contents saved by ``state_dict``."""
        self.images = [image.to(device) for image in state["images"]]
