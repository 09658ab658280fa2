"""Likelihood-model tests: tiny nets, one torch thread (fastest on the shared 2-core machine)."""

import pytest
import torch


@pytest.fixture(autouse=True)
def one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
