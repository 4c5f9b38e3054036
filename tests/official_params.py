"""Parameter counts worked out from the architectures' definitions, not from rga_mm's modules:
the official RGA_Module (github.com/microsoft/Relation-Aware-Global-Attention-Networks) and
the CIFAR ResNets of He et al. (2016) that paper §4.3 adds RGA-SC to."""


def conv_bn(c_in: int, c_out: int) -> int:
    """A bias-free 1×1 convolution and its BatchNorm (a weight and a bias per channel)."""
    return c_in * c_out + 2 * c_out


def official_param_count(channels: int, nodes: int, reduction: int = 8) -> int:
    """Parameters of the official RGA_Module(channels, nodes) with both branches, its
    embedding and gate reductions both ``reduction`` (s1 = s2)."""
    total = 0
    for features, count in ((channels, nodes), (nodes, channels)):  # spatial, channel
        embed, relation = features // reduction, count // reduction
        gate_in = 1 + relation
        total += 3 * conv_bn(features, embed) + conv_bn(2 * count, relation)
        total += conv_bn(gate_in, gate_in // reduction) + conv_bn(gate_in // reduction, 1)
    return total


def cifar_resnet_param_count(depth: int, num_classes: int) -> int:
    """Parameters of He et al.'s CIFAR ResNet-``depth`` (6n + 2): a 3×3 stem conv to 16
    channels, three stages of n basic blocks (two 3×3 convs with BN) at 16, 32 and 64
    channels, parameter-free (option A) shortcuts, and a linear classifier on 64 features."""
    blocks = (depth - 2) // 6
    total = 3 * 16 * 9 + 2 * 16  # stem conv and BN
    c_in = 16
    for width in (16, 32, 64):
        for _ in range(blocks):
            total += c_in * width * 9 + width * width * 9 + 2 * (2 * width)
            c_in = width
    return total + 64 * num_classes + num_classes
