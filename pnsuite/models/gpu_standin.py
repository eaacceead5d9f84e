"""The GPU stand-in: a PeopleNet-SIZED network on the GPU, with RANDOM weights.

It is NOT PeopleNet and finds no people: it is for throughput. It has PeopleNet's
DetectNet_v2 layout and tensor contract — a ResNet34 backbone (torchvision's) whose last
stage runs at stride 1, so the output stride is 16 (a 34x60 grid for a 544x960 input),
and two 1x1 convolution heads, `output_cov/Sigmoid` (3 classes, sigmoid) and
`output_bbox/BiasAdd` (12 channels) — in fp16, with weights drawn from a fixed seed.
Its cost per image is that of a PeopleNet-sized network; its outputs are noise.

The model repositories in `model_repos/gpu/` import `TritonPythonModel` from here (the
python backend's stub puts its working directory, the project root, on sys.path).

The data path is kept lean, since host copies, not the GPU, dominate a plain one:
inputs come in through DLPack (no numpy, no concatenation of a batch), each request is
copied into a pinned staging buffer and from there, asynchronously, straight into its
slot of a preallocated device batch; outputs go back through DLPack, as GPU tensors
(`output_memory` "device") or through pinned buffers ("host").
What this module cannot avoid: for inputs in CPU memory, Triton copies each request into
the python backend's shared memory and the stub copies it again into a numpy array
before execute() runs (docs/gpu-validation.md measures both; inputs in CUDA shared
memory skip them).
Every batch size the model accepts is run once at start-up, so no request pays for
cuDNN's first call at a new shape. numpy is never used on tensors: with numpy 2 in the
stub's environment, the 2.51 stub's numpy path reports output tensors as empty.
"""

from __future__ import annotations

import json
import os
import time
from typing import Any

import torch
from torch import nn

from pnsuite.models import identities
from pnsuite.models.gpu_parameters import choice
from pnsuite.models.malloc_tuning import keep_freed_memory

IDENTITY = identities.GPU_STANDIN
INPUT_NAME = "input_1"
COV_NAME = "output_cov/Sigmoid"
BBOX_NAME = "output_bbox/BiasAdd"
CLASSES = 3
NET_H, NET_W = 544, 960
STRIDE = 16
DEFAULT_SEED = 20240611
#: ResNet34: blocks per stage and their widths.
_STAGES = ((3, 64), (4, 128), (6, 256), (3, 512))


class _BasicBlock(nn.Module):
    """ResNet's basic block with torchvision's module names (for a torch without it)."""

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = (
            nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False), nn.BatchNorm2d(cout))
            if stride != 1 or cin != cout
            else None
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class _BuiltinResNet34(nn.Module):
    """torchvision's ResNet34 layout (same module names and shapes), without the head."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for index, (blocks, width) in enumerate(_STAGES, start=1):
            stride = 1 if index == 1 else 2
            layers = [_BasicBlock(cin, width, stride)]
            layers += [_BasicBlock(width, width, 1) for _ in range(blocks - 1)]
            setattr(self, f"layer{index}", nn.Sequential(*layers))
            cin = width


def resnet34_backbone(source: str = "torchvision") -> nn.Sequential:
    """ResNet34 without pooling and classifier, its last stage (layer4) at stride 1:
    512 channels at 1/16 of the input, DetectNet_v2's feature map.

    `source` "torchvision" (what the GPU repositories use) or "builtin", the same layout
    written here, for a torch that has no torchvision (a CPU check).
    """
    if source == "torchvision":
        from torchvision.models import resnet34

        net: nn.Module = resnet34(weights=None)
    elif source == "builtin":
        net = _BuiltinResNet34()
    else:
        raise ValueError(f"backbone source must be torchvision or builtin, got {source!r}")
    # Stride 1 in layer4's first block (main path and shortcut): output stride 16, not 32.
    # BasicBlock refuses dilation, so the stride is changed directly, as DetectNet_v2 does.
    first = net.layer4[0]
    first.conv1.stride = (1, 1)
    first.downsample[0].stride = (1, 1)
    return nn.Sequential(
        net.conv1, net.bn1, net.relu, net.maxpool, net.layer1, net.layer2, net.layer3, net.layer4
    )


class DetectNetV2(nn.Module):
    """Backbone plus DetectNet_v2's two 1x1 heads: coverage (sigmoid) and boxes."""

    def __init__(self, backbone: nn.Module, classes: int = CLASSES) -> None:
        super().__init__()
        self.backbone = backbone
        self.cov = nn.Conv2d(512, classes, 1)
        self.bbox = nn.Conv2d(512, 4 * classes, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        features = self.backbone(x)
        return torch.sigmoid(self.cov(features)), self.bbox(features)


def _seeded_init(net: nn.Module, seed: int) -> None:
    """Weights from `seed` alone (not torch's global RNG, not the backbone's source):
    He-normal convolutions, unit batch norms, small heads."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for name, module in sorted(net.named_modules(), key=lambda item: item[0]):
            if isinstance(module, nn.Conv2d):
                if name in ("cov", "bbox"):
                    module.weight.normal_(0.0, 0.01, generator=gen)
                else:
                    fan_out = module.out_channels * module.kernel_size[0] * module.kernel_size[1]
                    module.weight.normal_(0.0, (2.0 / fan_out) ** 0.5, generator=gen)
                if module.bias is not None:
                    module.bias.zero_()
            elif isinstance(module, nn.BatchNorm2d):
                module.weight.fill_(1.0)
                module.bias.zero_()
                module.reset_running_stats()


def _calibrate_batchnorm(net: nn.Module, seed: int) -> None:
    """Set every batch norm's running statistics from one seeded random batch.

    With random weights and identity statistics, activations grow block after block and
    can overflow fp16; statistics from data keep them normalised, as a trained network's
    are. Done on the CPU in fp32 at a quarter of the input size: cheap, and the same
    weights on every machine.
    """
    gen = torch.Generator().manual_seed(seed + 1)
    sample = torch.rand((2, 3, NET_H // 4, NET_W // 4), generator=gen)
    norms = [m for m in net.modules() if isinstance(m, nn.BatchNorm2d)]
    for norm in norms:
        norm.momentum = 1.0  # running statistics := this batch's
    net.train()
    with torch.no_grad():
        net(sample)
    net.eval()


def build_network(
    device: str | torch.device = "cuda",
    *,
    seed: int = DEFAULT_SEED,
    source: str = "torchvision",
    dtype: torch.dtype | None = None,
) -> DetectNetV2:
    """The stand-in network, ready for inference on `device`: fp16 and channels-last on
    a GPU (what tensor cores want), fp32 on a CPU."""
    device = torch.device(device)
    net = DetectNetV2(resnet34_backbone(source))
    _seeded_init(net, seed)
    _calibrate_batchnorm(net, seed)
    dtype = dtype or (torch.float16 if device.type == "cuda" else torch.float32)
    return net.to(device=device, dtype=dtype, memory_format=torch.channels_last).eval()


def run_network(net: DetectNetV2, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Forward a float32 NCHW batch already on the network's device; fp32 contiguous
    outputs on that device (the conversion to the network's dtype happens on it)."""
    param = next(net.parameters())
    x = batch.to(dtype=param.dtype, memory_format=torch.channels_last)
    cov, bbox = net(x)
    return cov.float().contiguous(), bbox.float().contiguous()


def _to_capsule(tensor: torch.Tensor) -> Any:
    # A plain (unversioned) DLPack capsule: what the 2.51 stub's from_dlpack expects.
    return torch.utils.dlpack.to_dlpack(tensor)


class TritonPythonModel:
    """Python-backend entry point: all requests of an execution as one batch."""

    def initialize(self, args: dict[str, str]) -> None:
        import triton_python_backend_utils as pb_utils  # only inside the stub

        self._pb = pb_utils
        config = json.loads(args["model_config"])
        params = {k: v["string_value"] for k, v in config.get("parameters", {}).items()}
        self._check_contract(config)
        self.device = self._instance_device(args)
        self._configure_process(config, params)
        self.max_batch = max(1, int(config.get("max_batch_size", 0)))
        began = time.perf_counter()
        self.net = build_network(
            self.device,
            seed=int(params.get("weights_seed", DEFAULT_SEED)),
            source=params.get("backbone_source", "torchvision"),
        )
        on_gpu = self.device.type == "cuda"
        # Outputs as GPU tensors: the backend copies them device to device into the
        # response (a CUDA shm client's region); "host" goes through pinned memory.
        self._outputs_on_device = on_gpu and choice(params, "output_memory") == "device"
        self._allocate_buffers()
        warmed = self._warm_up_or_explain(params.get("warmup", "all"))
        peak = self._release_warm_up_cache()
        # Per-phase times of execute(), logged every `profile` executions (0: off).
        self._profile_every = int(params.get("profile", "0"))
        self._profile: dict[str, float] = {}
        self._last_end = 0.0
        self._log_ready(warmed, peak, began)

    @staticmethod
    def _instance_device(args: dict[str, str]) -> torch.device:
        """The instance's device (made current for CUDA), as Triton placed the instance."""
        if args.get("model_instance_kind") == "GPU":
            device = torch.device(f"cuda:{int(args['model_instance_device_id'])}")
            torch.cuda.set_device(device)
            return device
        return torch.device("cpu")

    def _configure_process(self, config: dict[str, Any], params: dict[str, str]) -> None:
        """Process-wide settings of this instance's stub: cuDNN, threads, malloc, GPU memory."""
        # cuDNN's autotuner would re-tune at every new batch size the batcher forms;
        # its heuristics are steady. "true" only makes sense with every size warmed.
        torch.backends.cudnn.benchmark = choice(params, "cudnn_benchmark") == "true"
        # CPU threads copy a request into the pinned buffer; a few per instance suffice
        # and several instances (each its own process) share the cores.
        instances = sum(int(g.get("count", 1)) for g in config.get("instance_group", [])) or 1
        torch.set_num_threads(max(1, min(8, (os.cpu_count() or 1) // instances)))
        self._malloc_tuned = keep_freed_memory()
        if self.device.type == "cuda":
            # Each instance is a process with its own caching allocator. Uncapped, one
            # instance had reserved 65 GiB after warming up to batch 64 (measured; cuDNN
            # takes the workspace it can get): enough to starve the next server on the
            # GPU. With a cap, torch falls back to plans whose workspace fits.
            torch.cuda.set_per_process_memory_fraction(
                float(params.get("gpu_memory_fraction", "0.12")), self.device
            )

    def _allocate_buffers(self) -> None:
        """The device batch, and the staging and output buffers (pinned on a GPU)."""
        shape = (self.max_batch, 3, NET_H, NET_W)
        grid = (NET_H // STRIDE, NET_W // STRIDE)
        on_gpu = self.device.type == "cuda"
        self.batch_in = torch.empty(shape, dtype=torch.float32, device=self.device)
        self.staging = (
            torch.empty(shape, dtype=torch.float32, pin_memory=on_gpu) if on_gpu else None
        )
        # Host outputs only: device outputs are each execution's own tensors.
        self.cov_out = self.bbox_out = None
        if not self._outputs_on_device:
            self.cov_out = torch.empty(
                (self.max_batch, CLASSES, *grid), dtype=torch.float32, pin_memory=on_gpu
            )
            self.bbox_out = torch.empty(
                (self.max_batch, 4 * CLASSES, *grid), dtype=torch.float32, pin_memory=on_gpu
            )

    def _warm_up_or_explain(self, which: str) -> list[int]:
        """The warm-up on a GPU (none on a CPU); a failure is logged with the free memory."""
        on_gpu = self.device.type == "cuda"
        try:
            return self._warm_up(which) if on_gpu else []
        except Exception as err:
            # Say why in one line: the server's own report keeps only the traceback's end.
            free = torch.cuda.mem_get_info(self.device) if on_gpu else (0, 0)
            self._pb.Logger.log_error(
                f"{IDENTITY}: warm-up failed ({free[0] / 2**30:.1f} of "
                f"{free[1] / 2**30:.1f} GiB free): {err}"
            )
            raise

    def _release_warm_up_cache(self) -> float:
        """The peak GiB the warm-up reserved; then what it cached goes back to the GPU."""
        on_gpu = self.device.type == "cuda"
        peak = torch.cuda.max_memory_reserved(self.device) / 2**30 if on_gpu else 0.0
        if on_gpu:
            # Give back what the largest warm-up batches cached: instances and servers that
            # start next on the same GPU need it; serving re-caches only what it uses.
            torch.cuda.empty_cache()
        return peak

    def _log_ready(self, warmed: list[int], peak: float, began: float) -> None:
        import numpy  # only to say which one the stub got

        on_gpu = self.device.type == "cuda"
        self._pb.Logger.log_info(
            f"{IDENTITY}: torch {torch.__version__}, numpy {numpy.__version__}, device "
            f"{torch.cuda.get_device_name(self.device) if on_gpu else 'cpu'}, "
            f"{len(warmed)} batch sizes warmed (peak {peak:.1f} GiB reserved), outputs in "
            f"{'device' if self._outputs_on_device else 'host'} memory, malloc tuned "
            f"{self._malloc_tuned}, ready in "
            f"{time.perf_counter() - began:.1f} s"
        )

    @staticmethod
    def _check_contract(config: dict[str, Any]) -> None:
        inputs = {t["name"]: [int(d) for d in t["dims"]] for t in config.get("input", [])}
        outputs = {t["name"]: [int(d) for d in t["dims"]] for t in config.get("output", [])}
        grid = [NET_H // STRIDE, NET_W // STRIDE]
        expected_in = {INPUT_NAME: [3, NET_H, NET_W]}
        expected_out = {COV_NAME: [CLASSES, *grid], BBOX_NAME: [4 * CLASSES, *grid]}
        if inputs != expected_in or outputs != expected_out:
            raise ValueError(
                f"config does not have PeopleNet's tensor contract: inputs "
                f"{inputs} (want {expected_in}), outputs {outputs} "
                f"(want {expected_out})"
            )

    def _warm_up(self, which: str) -> list[int]:
        """Run every batch size once (cuDNN picks and loads its kernels per shape)."""
        sizes = (
            list(range(1, self.max_batch + 1))
            if which == "all"
            else [int(s) for s in which.split(",") if s.strip()]
        )
        self.batch_in.uniform_()  # not zeros: real-looking data for the first runs
        with torch.inference_mode():
            for n in sizes:
                run_network(self.net, self.batch_in[:n])
        torch.cuda.synchronize(self.device)
        return sizes

    def _lap(self, phase: str, since: float) -> float:
        now = time.perf_counter()
        self._profile[phase] = self._profile.get(phase, 0.0) + (now - since)
        return now

    def _report_profile(self) -> None:
        count = self._profile.get("executions", 0.0)
        images = self._profile.get("images", 0.0)
        parts = ", ".join(
            f"{k} {v / count * 1e3:.3f}"
            for k, v in self._profile.items()
            if k not in ("executions", "images")
        )
        self._pb.Logger.log_info(
            f"{IDENTITY} profile: {count:.0f} executions, "
            f"{images / count:.2f} images each; ms per execution: {parts}"
        )
        self._profile = {}

    def execute(self, requests: list[Any]) -> list[Any]:
        pb = self._pb
        t0 = time.perf_counter()
        if self._profile_every and self._last_end:
            # Between two executions: the stub's own work (loading the next requests from
            # shared memory, writing the last responses) and waiting for the server.
            self._profile["between"] = self._profile.get("between", 0.0) + (t0 - self._last_end)
        inputs = [
            torch.utils.dlpack.from_dlpack(pb.get_input_tensor_by_name(r, INPUT_NAME).to_dlpack())
            for r in requests
        ]
        t = self._lap("inputs", t0) if self._profile_every else t0
        total = sum(int(x.shape[0]) for x in inputs)
        if total > self.max_batch:  # the batcher never forms this; a guard, not a path
            raise ValueError(f"batch of {total} exceeds max_batch_size {self.max_batch}")
        offset = 0
        for x in inputs:
            n = int(x.shape[0])
            if x.device.type == "cuda" or self.staging is None:
                self.batch_in[offset : offset + n].copy_(x, non_blocking=True)
            else:
                # Shared memory -> pinned (CPU threads), then an async DMA into the device
                # batch: the DMA of one request overlaps the CPU copy of the next.
                self.staging[offset : offset + n].copy_(x)
                self.batch_in[offset : offset + n].copy_(
                    self.staging[offset : offset + n], non_blocking=True
                )
            offset += n
        t = self._lap("copy_in", t) if self._profile_every else t
        with torch.inference_mode():
            cov, bbox = run_network(self.net, self.batch_in[:total])
            if self.cov_out is not None and self.bbox_out is not None:  # host outputs
                cov = self.cov_out[:total].copy_(cov, non_blocking=True)
                bbox = self.bbox_out[:total].copy_(bbox, non_blocking=True)
        if self.device.type == "cuda":
            # Outputs complete before the backend reads them, on whichever stream it uses.
            torch.cuda.current_stream(self.device).synchronize()
        t = self._lap("network", t) if self._profile_every else t
        responses, offset = [], 0
        for x in inputs:
            n = int(x.shape[0])
            # The stub copies these when execute() returns (host: into its shared memory,
            # before the next execute() can overwrite the pinned buffers; device: the
            # capsule keeps this execution's tensor alive until the backend has copied it).
            responses.append(
                pb.InferenceResponse(
                    output_tensors=[
                        pb.Tensor.from_dlpack(COV_NAME, _to_capsule(cov[offset : offset + n])),
                        pb.Tensor.from_dlpack(BBOX_NAME, _to_capsule(bbox[offset : offset + n])),
                    ]
                )
            )
            offset += n
        if self._profile_every:
            self._last_end = self._lap("responses", t)
            self._profile["executions"] = self._profile.get("executions", 0.0) + 1
            self._profile["images"] = self._profile.get("images", 0.0) + total
            if self._profile["executions"] >= self._profile_every:
                self._report_profile()
        return responses

    def finalize(self) -> None:
        self.net = None  # type: ignore[assignment]
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
