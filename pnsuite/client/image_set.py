"""The images a load sends: one tensor (every request alike), or a set of distinct,
named images that the load cycles through request by request.

A fault that hands one request's answer to another request of the same batch only shows
when the requests of a batch carry different images: `answer_images()` is capture.jpg
(what every load sent before), its centre at full resolution, and the horizontal flips
of both (pnsuite.detection.variants), pre-processed once. All four fill the network
input alike (960x540 of picture, 2 rows of padding above and below) with the same
street scene, so each costs the CPU stand-in's HOG the same time (measured within a
few percent: results/answers-under-load/README.md) and a time window's mix of images
does not move its throughput; their answers differ box by box, so an answer handed to
the wrong request shows. Four images keep the references small: the check under load
sends each alone once per server start (capture.jpg's comes from the answer check).
(The first version cycled through the golden images and their flips: ten images of
different sizes and scenes, nothing making their costs equal, and ten references.)
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from pnsuite.detection import detectnet, variants
from pnsuite.paths import CAPTURE_IMAGE

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
    def of(cls, images: ImageSet | np.ndarray) -> ImageSet:
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


def answer_images(image: Path = CAPTURE_IMAGE) -> ImageSet:
    """`image` (capture.jpg) letterboxed as every load sent it, its centre crop of the
    network's size at full resolution (no resampling), and the horizontal flip of each."""
    bgr = detectnet.load_image(image)
    whole = LoadImage(image.name, detectnet.preprocess(bgr)[0])
    centre = LoadImage(
        variants.centre_name(image.name), detectnet.preprocess(variants.centre_crop(bgr))[0]
    )
    return ImageSet(
        [
            variant
            for original in (whole, centre)
            for variant in (
                original,
                LoadImage(variants.flipped_name(original.name), variants.flip(original.tensor)),
            )
        ]
    )
