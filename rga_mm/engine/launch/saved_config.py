"""Where a run saves its config: mmengine's Runner, kept from overwriting a config it reads.

mmengine's Runner writes the config it runs into its work dir under the config's file name.
rga_mm's own-data flow (docs/reid.md, "Train on your own data") runs the later commands on
that saved file, ``work_dirs/<run>/<config>.py``, whose work dir is the same folder: a
``tools/test.py`` of it then wrote its test-time changes (``load_from``, the ranked lists of
``--show-dir``) over the training run's config, and every later command read them. mmengine
has no setting for this, so the tools build a :class:`ConfigKeepingRunner` instead, which
writes the config as mmengine does except

* never over the file the run's config was read from (the run's config is still recorded,
  as by every Runner, by its visualizer's backends: mmengine's default ``LocalVisBackend``
  writes ``<work_dir>/<timestamp>/vis_data/config.py``);
* for a run that only tests (``replaces_saved_config=False``, tools/test.py), never over a
  config already saved in the work dir, a training run's.
"""
import os.path as osp

from mmengine.runner import Runner


class ConfigKeepingRunner(Runner):
    """mmengine's ``Runner`` whose :meth:`dump_config` keeps the config files above (module
    docstring); ``replaces_saved_config`` False for a run that only tests."""

    replaces_saved_config = True

    def dump_config(self) -> None:
        """Save the config in the work dir as mmengine does, unless that would overwrite
        the config file the run read or (for a test) a config saved there before; then
        log where the run's config is recorded instead."""
        source = self.cfg.filename
        target = osp.join(self.work_dir, osp.basename(source)) if source else None
        if target is not None and osp.exists(target) and (
                not self.replaces_saved_config
                or (osp.exists(source) and osp.samefile(source, target))):
            self.logger.info(f'the config {target} is kept as it is; this run\'s config is '
                             f'recorded by the visualizer\'s backends (a LocalVisBackend '
                             f'writes {osp.join(self.log_dir, "vis_data", "config.py")})')
            return
        super().dump_config()


class ConfigKeepingTestRunner(ConfigKeepingRunner):
    """:class:`ConfigKeepingRunner` of a run that only tests: it keeps a config saved in the
    work dir by a training run."""

    replaces_saved_config = False
