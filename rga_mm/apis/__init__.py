from .inference import check_checkpoint_shapes, init_model, load_state_dict_file

__all__ = ['check_checkpoint_shapes', 'init_model', 'load_state_dict_file']
