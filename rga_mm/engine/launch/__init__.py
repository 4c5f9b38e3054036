"""Starting a run, as the tools do: loading its config (naming the ``seg`` extra where one
needs it, refusing mistyped ``--cfg-options`` and ones that would change nothing), the
command line that tools/train.py and tools/test.py share, distributed set-up (gloo without
CUDA, a bounded wait for a hung rank) and, before training, a re-ID classifier checked
against the number of training identities.

Not imported by ``import rga_mm``: only the tools and :mod:`rga_mm.apis` use it.
"""
from .classifier_size import check_classifier_size
from .config import (
    COMMAND_LINE_OPTION,
    PYTHON_OPTION,
    SEGMENTATION_EXTRA,
    CfgOptionsAction,
    load_config,
    load_config_with_options,
    merge_cfg_options,
    require_segmentation,
    segmentation_unavailable,
)
from .distributed import (
    DEFAULT_TIMEOUT_S,
    CollectiveTimeoutError,
    closing_process_group,
    dist_timeout,
    explain_timeouts,
    launched_as_rank_zero,
    prepare_cpu_distributed,
)
from .run_config import (
    PARTIAL_LOAD_HELP,
    add_run_arguments,
    build_checked_runner,
    check_not_folder,
    check_out_not_beside_named_files,
    check_out_not_input_folder,
    check_output_dir,
    check_output_file,
    check_output_folder,
    check_spares_inputs,
    check_train_counts,
    image_named_folder_refusal,
    load_run_config,
    parse_run_args,
    stop_on_input_errors,
    stop_unless_fits,
)
from .triplet_batches import check_triplet_batches

__all__ = [
    'COMMAND_LINE_OPTION', 'DEFAULT_TIMEOUT_S', 'PARTIAL_LOAD_HELP', 'PYTHON_OPTION',
    'SEGMENTATION_EXTRA', 'CfgOptionsAction', 'CollectiveTimeoutError', 'add_run_arguments',
    'build_checked_runner', 'check_classifier_size', 'check_not_folder',
    'check_out_not_beside_named_files', 'check_out_not_input_folder',
    'check_output_dir',
    'check_output_file', 'check_output_folder', 'check_spares_inputs', 'check_train_counts',
    'check_triplet_batches', 'closing_process_group', 'dist_timeout', 'explain_timeouts',
    'image_named_folder_refusal',
    'launched_as_rank_zero', 'load_config', 'load_config_with_options', 'load_run_config',
    'merge_cfg_options', 'parse_run_args', 'prepare_cpu_distributed', 'require_segmentation',
    'segmentation_unavailable', 'stop_on_input_errors', 'stop_unless_fits'
]
