"""One intra-op thread for the model tests: the machine's cores are shared, and tiny
convolutions only slow down when split across threads."""
import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread():
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
