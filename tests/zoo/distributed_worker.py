"""Worker of tests/zoo/test_train_distributed.py, run as ``torchrun --standalone --nproc_per_node 2
distributed_worker.py OUT``: the test's tiny Pix2Pix trained data-parallel (gloo, CPU)."""

from __future__ import annotations

import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from test_train_distributed import STEPS, dataset, pix2pix, train  # noqa: E402

from mrisynth.zoo import distributed  # noqa: E402


def main(out: Path) -> None:
    torch.set_num_threads(1)
    distributed.init_from_env("cpu")
    rank, world = distributed.world()
    assert world == 2, world
    data = dataset()
    marks = out / "samples-by-rank"
    marks.mkdir(parents=True, exist_ok=True)
    # the global-batch run compared with one process; every rank records its sample callbacks
    train(pix2pix(dropout=False), data, out / "ddp", STEPS, lambda *_: (marks / f"rank-{rank}").touch())
    # per-rank randomness (dropout) and resume: STEPS straight == STEPS / 2, then resumed to STEPS
    train(pix2pix(dropout=True), data, out / "straight", STEPS)
    train(pix2pix(dropout=True), data, out / "resumed", STEPS // 2)
    train(pix2pix(dropout=True), data, out / "resumed", STEPS)
    distributed.shutdown()


if __name__ == "__main__":
    main(Path(sys.argv[1]))
