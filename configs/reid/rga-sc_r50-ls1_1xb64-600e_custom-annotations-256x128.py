_base_ = [
    '../_base_/models/reid_r50-ls1_rga-sc-256x128.py',
    '../_base_/datasets/custom-annotations-256x128.py',
    '../_base_/schedules/reid_adam-600e.py',
    '../_base_/default_runtime.py',
]
# One classifier output per training identity, a number the config cannot know: set it to
# the "identities" of the "train" row in the table logged when the data loads (fewer stops
# tools/train.py before the first iteration, naming the number to set; more leaves outputs
# that are never a target).
model = dict(head=dict(num_classes=100))
