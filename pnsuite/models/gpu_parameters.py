"""The GPU stand-in's config parameters that take one of a fixed set of values.

Torch-free, so that the configs can be checked where torch is not installed (CI).
"""

from __future__ import annotations

#: parameter: the values it may take, the default first
CHOICES: dict[str, tuple[str, ...]] = {
    # Outputs as GPU tensors (the backend copies them device to device into the
    # response), or through pinned host memory.
    "output_memory": ("device", "host"),
    # cuDNN's autotuner: it re-tunes at every new batch size the batcher forms.
    "cudnn_benchmark": ("false", "true"),
}


def choice(params: dict[str, str], key: str) -> str:
    """The value of the fixed-choice parameter `key` in a config's `params`, or its
    default; anything else is refused, naming the parameter and what it may be."""
    value = params.get(key, CHOICES[key][0])
    if value not in CHOICES[key]:
        raise ValueError(
            f"config parameter {key!r} is {value!r}: it must be one of "
            f"{', '.join(CHOICES[key])} (config.pbtxt's parameters)"
        )
    return value
