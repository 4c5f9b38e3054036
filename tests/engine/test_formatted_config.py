"""The tools' configs give mmengine's own formatted text, formatting each content once."""
import copy
import pickle
from pathlib import Path
from unittest import mock

import mmengine.config.config as mmengine_config
from mmengine.config import Config

from rga_mm.engine.launch import load_config
from rga_mm.engine.launch.formatted_config import MAX_CACHED_TEXTS, OnceFormattedConfig

ROOT = Path(__file__).parents[2]
REID_CONFIG = ROOT / 'configs/reid/rga-sc_r50-ls1_1xb64-600e_market1501-256x128.py'


def test_the_text_is_mmengines_also_after_a_change(tmp_path):
    cfg, plain = load_config(REID_CONFIG), Config.fromfile(str(REID_CONFIG))
    assert isinstance(cfg, OnceFormattedConfig)
    assert (cfg.filename, cfg.text) == (plain.filename, plain.text)
    before = cfg.pretty_text
    assert before == plain.pretty_text and '\n' in before

    for config in (cfg, plain):
        config.merge_from_dict({'train_cfg.max_epochs': 3})
    assert cfg.pretty_text == plain.pretty_text != before

    cfg.dump(tmp_path / 'config.py')
    assert (tmp_path / 'config.py').read_text() == plain.pretty_text


def test_yapf_formats_each_content_once_in_every_copy(tmp_path, monkeypatch):
    monkeypatch.setattr(OnceFormattedConfig, '_formatted_texts', {})
    cfg = OnceFormattedConfig.of(Config(dict(work_dir=str(tmp_path), model=dict(depth=50))))
    with mock.patch.object(mmengine_config, 'FormatCode',
                           wraps=mmengine_config.FormatCode) as format_code:
        text = cfg.pretty_text
        copies = [copy.deepcopy(cfg), copy.copy(cfg), pickle.loads(pickle.dumps(cfg))]
        assert all(type(c) is OnceFormattedConfig for c in copies)
        assert [c.pretty_text for c in [cfg, *copies]] == [text] * 4
        assert format_code.call_count == 1

        copies[0].model.depth = 101
        assert 'depth=101' in copies[0].pretty_text and 'depth=50' in cfg.pretty_text
        assert format_code.call_count == 2


def test_a_full_cache_lets_only_its_oldest_text_go(tmp_path, monkeypatch):
    monkeypatch.setattr(OnceFormattedConfig, '_formatted_texts', {})
    configs = [OnceFormattedConfig.of(Config(dict(work_dir=str(tmp_path), depth=depth)))
               for depth in range(MAX_CACHED_TEXTS + 1)]
    with mock.patch.object(mmengine_config, 'FormatCode',
                           wraps=mmengine_config.FormatCode) as format_code:
        texts = [cfg.pretty_text for cfg in configs]
        assert format_code.call_count == MAX_CACHED_TEXTS + 1
        assert [cfg.pretty_text for cfg in configs[1:]] == texts[1:]
        assert format_code.call_count == MAX_CACHED_TEXTS + 1
        assert configs[0].pretty_text == texts[0]
        assert format_code.call_count == MAX_CACHED_TEXTS + 2


def test_a_config_that_is_not_formatted_stays_so(tmp_path):
    content = dict(work_dir=str(tmp_path), pipeline=[dict(type='Resize', scale=(8, 4))])
    unformatted = OnceFormattedConfig.of(Config(content, format_python_code=False))
    formatted = OnceFormattedConfig.of(Config(content))
    assert unformatted.pretty_text == Config(content, format_python_code=False).pretty_text
    assert formatted.pretty_text == Config(content).pretty_text != unformatted.pretty_text
