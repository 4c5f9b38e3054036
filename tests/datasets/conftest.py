"""Fixtures: tiny re-ID dataset trees under tmp_path, and the datasets' log messages."""

import pytest

from reid_trees import CUHK03_NP, DUKE, MARKET, write_tree


@pytest.fixture
def market_root(tmp_path) -> str:
    return str(write_tree(tmp_path / 'Market-1501-v15.09.15', MARKET))


@pytest.fixture
def duke_root(tmp_path) -> str:
    return str(write_tree(tmp_path / 'DukeMTMC-reID', DUKE))


@pytest.fixture
def cuhk03_np_root(tmp_path) -> str:
    root = tmp_path / 'cuhk03-np'
    for box_type in ('labeled', 'detected'):
        write_tree(root / box_type, CUHK03_NP)
    return str(root)


@pytest.fixture
def logged(monkeypatch) -> list[str]:
    """Messages the datasets log (their statistics tables)."""
    messages = []
    monkeypatch.setattr('rga_mm.datasets.reid_dataset.print_log',
                        lambda message, logger=None: messages.append(message))
    return messages
