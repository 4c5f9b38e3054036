# What every CIFAR model of paper §4.3 shares: 32×32 inputs, a backbone (set by the model
# configs beside this one), global average pooling and a linear classifier.
input_size = (32, 32)  # (height, width)
model = dict(
    type='ImageClassifier',
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10,
              loss=dict(type='CrossEntropyLoss', loss_weight=1.0)))
