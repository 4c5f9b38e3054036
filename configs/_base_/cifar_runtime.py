# The runtime of the CIFAR configs: mmpretrain's scope, with rga_mm's parts named
# ``rga_mm.X``; otherwise ./default_runtime.py, logging every 100 iterations.
_base_ = ['./default_runtime.py']
default_scope = 'mmpretrain'
custom_imports = dict(imports=['rga_mm'], allow_failed_imports=False)
default_hooks = dict(logger=dict(type='LoggerHook', interval=100))
