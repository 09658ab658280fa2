"""Tiny MLP GANs: one torch thread is much faster than two on a shared 2-core machine (thread
oversubscription makes a 4 ms step take over 100 ms), so these tests run single-threaded."""

import pytest
import torch


@pytest.fixture(autouse=True, scope="package")
def single_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
