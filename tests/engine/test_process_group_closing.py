"""tools/train.py and tools/test.py destroy the process group they ran in, also when the run
stops with an error: a process left to exit with gloo's threads alive can abort
(``terminate called without an active exception``) after its work is done."""
import pytest
import torch.distributed as dist

from rga_mm.engine.launch import closing_process_group


def _init_single_rank_group(tmp_path) -> None:
    store = dist.FileStore(str(tmp_path / 'store'), 1)
    dist.init_process_group('gloo', store=store, rank=0, world_size=1)


def test_the_group_is_destroyed_when_the_block_ends(tmp_path):
    with closing_process_group():
        _init_single_rank_group(tmp_path)
        assert dist.is_initialized()
    assert not dist.is_initialized()


def test_the_group_is_destroyed_when_the_block_raises(tmp_path):
    with pytest.raises(SystemExit, match='^stopped$'), closing_process_group():
        _init_single_rank_group(tmp_path)
        raise SystemExit('stopped')
    assert not dist.is_initialized()


def test_a_run_without_a_group_passes_through():
    with closing_process_group():
        pass
    assert not dist.is_initialized()
