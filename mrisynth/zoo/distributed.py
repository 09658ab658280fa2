"""Data-parallel training over processes: ``torchrun --nproc_per_node N <command>``.

torchrun starts N processes and describes the group in the environment (RANK, LOCAL_RANK, WORLD_SIZE,
MASTER_ADDR/PORT). :func:`init_from_env` joins it (nccl on CUDA, one GPU per process; gloo on CPU). The
trainer (:mod:`mrisynth.zoo.train`) then, when a group is initialised:

* wraps every trainable net in :class:`DistributedNet` (DistributedDataParallel that still looks like the
  net: same attributes, same state_dict keys); DDP broadcasts rank 0's weights at wrap time;
* gives each rank its contiguous share of the global batch (``config.batch_size`` is the global batch);
* averages gradients only of the nets the current optimizer owns (:func:`gradient_sync`; the others are
  frozen for that update and run under ``no_sync``), and only on the last accumulation micro-batch;
* seeds each rank differently (:func:`rank_seed`; rank 0 keeps the plain seed) and checkpoints every
  rank's RNG state, but writes checkpoints, loss CSV, samples and the progress bar on rank 0 only.

With mean-reduced losses and no batch-coupled layers (batch norm), N processes follow single-process
training with the same global batch up to float rounding (tests/zoo/test_train_distributed.py).
"""

from __future__ import annotations

import contextlib
import datetime
import os

import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel


def world() -> tuple[int, int]:
    """(rank, world size) of this process: (0, 1) without an initialised process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def init_from_env(device: str) -> str:
    """Join the process group torchrun describes in the environment; returns this process's device.

    Without torchrun (WORLD_SIZE unset or 1) nothing happens and ``device`` is returned unchanged.
    """
    if int(os.environ.get("WORLD_SIZE", "1")) <= 1 or dist.is_initialized():
        return device
    backend = "gloo"
    if torch.device(device).type == "cuda":
        local_rank = int(os.environ["LOCAL_RANK"])
        torch.cuda.set_device(local_rank)
        device, backend = f"cuda:{local_rank}", "nccl"
    # generous timeout: the other ranks wait at the next gradient all-reduce while rank 0 validates
    dist.init_process_group(backend, timeout=datetime.timedelta(hours=2))
    return device


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def rank_seed(seed: int, rank: int) -> int:
    """Seed of ``rank`` (noise, dropout and augmentation differ per rank); rank 0 keeps ``seed``."""
    return (seed + 1_000_003 * rank) % 2**32


class DistributedNet(DistributedDataParallel):
    """DDP that stands in for the net it wraps: the net's attributes and its state_dict (no ``module.``)."""

    def __getattr__(self, name: str):
        try:
            return super().__getattr__(name)
        except AttributeError:
            if name == "module":
                raise
            return getattr(self.module, name)

    def state_dict(self, *args, **kwargs):
        return self.module.state_dict(*args, **kwargs)

    def load_state_dict(self, *args, **kwargs):
        return self.module.load_state_dict(*args, **kwargs)


def wrap_nets(nets: dict[str, nn.Module], device: torch.device) -> None:
    """Replace every net with trainable parameters by its :class:`DistributedNet`, in place."""
    for name, net in nets.items():
        if any(p.requires_grad for p in net.parameters()):
            # buffers (batch-norm statistics) start as rank 0's and then stay per rank: syncing them in
            # every forward would make rank 0's validation forward a collective
            ids = [device] if device.type == "cuda" else None
            nets[name] = DistributedNet(net, device_ids=ids, forward_sync_buffers=False)


def unwrap_nets(nets: dict[str, nn.Module]) -> None:
    for name, net in nets.items():
        if isinstance(net, DistributedNet):
            nets[name] = net.module


def gradient_sync(nets: dict[str, nn.Module], owned: set[int], sync: bool) -> contextlib.ExitStack:
    """Context for one forward/backward: the next backward averages the gradients of the DDP nets whose
    parameters (ids in ``owned``) the current optimizer updates, if ``sync``; every other DDP net runs
    under ``no_sync`` (frozen for this update, or a micro-batch before the last)."""
    stack = contextlib.ExitStack()
    for net in nets.values():
        if isinstance(net, DistributedDataParallel) and not (sync and any(id(p) in owned for p in net.parameters())):
            stack.enter_context(net.no_sync())
    return stack


def mean_over_ranks(values: dict[str, float]) -> dict[str, float]:
    """Logged numbers averaged over the processes (the global batch's value); unchanged on one process."""
    rank, size = world()
    if size == 1 or not values:
        return values
    t = torch.tensor(list(values.values()), dtype=torch.float64)
    if dist.get_backend() == "nccl":
        t = t.cuda()
    dist.all_reduce(t)
    return dict(zip(values, (t / size).tolist()))


def gather_objects(obj) -> list:
    """``obj`` of every rank, in rank order (a collective: every rank calls it)."""
    out = [None] * world()[1]
    dist.all_gather_object(out, obj)
    return out
