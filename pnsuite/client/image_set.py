"""The images a load sends: one tensor (every request alike), or a set of distinct,
named images that the load cycles through request by request.

A fault that hands one request's answer to another request of the same batch only shows
when the requests of a batch carry different images: `answer_images()` is the golden
images and their horizontal flips (pnsuite.detection.variants), pre-processed once.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from pnsuite.detection import detectnet, goldens, variants

#: what a load built from one bare tensor calls it in its messages
SINGLE_NAME = "the load's tensor"


@dataclass(frozen=True)
class LoadImage:
    """One image as a request carries it: [N, 3, 544, 960] float32 (N is 1 for a set's
    images; a bare tensor may hold a batch)."""

    name: str
    tensor: np.ndarray

    def __post_init__(self) -> None:
        tensor = np.ascontiguousarray(self.tensor, dtype=np.float32)
        if tensor.ndim == 3:  # one image without its batch dimension
            tensor = tensor[None]
        object.__setattr__(self, "tensor", tensor)


class ImageSet(Sequence[LoadImage]):
    """The images of a load, in the order it cycles through them."""

    def __init__(self, images: Sequence[LoadImage]) -> None:
        if not images:
            raise ValueError("a load needs at least one image")
        names = [i.name for i in images]
        if len(set(names)) != len(names):
            raise ValueError(f"image names must be distinct: {names}")
        self._images = tuple(images)

    @classmethod
    def of(cls, images: "ImageSet | np.ndarray") -> "ImageSet":
        """`images` as a set: a bare tensor (the single-image API) is a set of one."""
        if isinstance(images, ImageSet):
            return images
        return cls([LoadImage(SINGLE_NAME, np.asarray(images))])

    def __getitem__(self, index: int) -> LoadImage:  # type: ignore[override]
        return self._images[index]

    def __len__(self) -> int:
        return len(self._images)

    def __iter__(self) -> Iterator[LoadImage]:
        return iter(self._images)

    @property
    def names(self) -> list[str]:
        return [i.name for i in self._images]

    @property
    def batch(self) -> int:
        """Images per request (all of a set's tensors have the same first dimension)."""
        return self._images[0].tensor.shape[0]

    def stacked(self) -> np.ndarray:
        """Every image's tensor, one after another: what a shared input region holds."""
        return np.ascontiguousarray(np.concatenate([i.tensor for i in self._images]))

    def describe(self) -> str:
        return f"{len(self)} image(s): {', '.join(self.names)}"


def image_for(slot: int, sent: int, count: int) -> int:
    """The image a load's slot sends as its request number `sent` (over all runs): slots
    start `slot` images apart and step one image per request, so the requests that are
    in flight together (one per slot) carry different images while there are at least as
    many images as slots."""
    return (slot + sent) % count


def answer_images(directory: Path = goldens.IMAGE_DIR, flips: bool = True) -> ImageSet:
    """The golden images (sorted by name), then each one's horizontal flip."""
    originals = [LoadImage(p.name, detectnet.preprocess(detectnet.load_image(p))[0])
                 for p in goldens.golden_images(directory)]
    flipped = [LoadImage(variants.flipped_name(i.name), variants.flip(i.tensor))
               for i in originals] if flips else []
    return ImageSet(originals + flipped)
