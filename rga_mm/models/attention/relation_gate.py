"""One branch of RGA: the relation-aware gate over the nodes of a node map (paper §3.2-3.3).

Symbols → names (paper, official code):
    θ, φ (theta_*, phi_*)  → ``theta``, ``phi``: 1×1 conv → BN → ReLU, d → d / s1
    ψ   (gx_*)             → ``appearance_embed``: 1×1 conv → BN → ReLU, d → d / s1, then a
                              mean over its channels (pool_c in Eq. 2)
    ϕ   (gg_*)             → ``relation_embed``: 1×1 conv 2N → N / s1 → BN → ReLU
    W1, W2 (W_*)           → ``gate_mlp``: conv → BN → ReLU → conv (→ 1) → BN (Eq. 3)
    s1, s2                 → ``reduction``, ``gate_reduction``

A *node map* is a (B, D, H', W') tensor whose H'·W' positions are the nodes and whose D
channels are their features. The spatial branch (RGA-S) reads the feature map itself
(nodes = positions); the channel branch (RGA-C) reads its transposed view, laid out as
(B, H·W, g, C / g) (nodes = channels, see ``RGA.channel_nodes``): one code path for both, as
the official module's two branches compute the same function. The 1×1 convolutions run fused
(``fused_convs.py``; docs/architecture.md, "RGA at its FLOP share").
"""

import torch
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule
from torch import Tensor, nn
from torch.nn.modules.batchnorm import _BatchNorm

from rga_mm.checks import positive_int
from rga_mm.errors import ConfigError
from .fused_convs import conv_over_concatenation, conv_weights, shared_input_convs
from .helpers import any_case_choice, check_norm_cfg, reduced_width
from .reference_grid import pool_to_grid
from .relation import RELATION_PATHS

# the norms of a 1×1 conv's (B, C, H, W) output that RGA takes (GN with num_groups=1 only:
# the gate logits have one channel); LayerNorm would normalise the last axis, W
PER_CHANNEL_NORMS = (_BatchNorm, nn.GroupNorm)


class RelationGate(BaseModule):
    """Relation-aware attention logits for every node of a node map.

    Args:
        feature_dim: D, channels of the node map (C for RGA-S, h·w for RGA-C).
        grid_size: (h', w'), the node grid this gate is built for; N = h'·w' nodes.
        reduction: s1; θ, φ, ψ embed D → D // s1 and ϕ embeds 2N → N // s1.
        gate_reduction: s2, an int >= 1; W1 maps the width of y_p, 1 + N // s1 (N // s1
            without the appearance term, 1 without the relation term), to
            max(1, width // s2).
        use_relation: include ϕ(r_p) in y_p (False is the paper's "w/o Rel.").
        use_appearance: include pool_c(ψ(x_p)) in y_p (False is "w/o Vis.").
        relation_path: ``'factorized'`` (default) or ``'dense'``, in any case; equal results.
        norm_cfg: normalisation after every 1×1 conv.
    """

    def __init__(self,
                 feature_dim: int,
                 grid_size: tuple[int, int],
                 reduction: int = 8,
                 gate_reduction: int = 8,
                 use_relation: bool = True,
                 use_appearance: bool = True,
                 relation_path: str = 'factorized',
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg: dict | None = None) -> None:
        super().__init__(init_cfg)
        if not (use_relation or use_appearance):
            raise ConfigError('an RGA gate needs the relation term, the appearance term or '
                              'both; got use_relation=False and use_appearance=False')
        gate_reduction = positive_int(gate_reduction, 'RGA gate_reduction',
                                      "s2, the reduction inside the gate's W1; 1 for none")
        check_norm_cfg(norm_cfg, 'RGA')
        self.grid_size = tuple(grid_size)
        self.num_nodes = self.grid_size[0] * self.grid_size[1]
        self.relation_path = any_case_choice(relation_path, list(RELATION_PATHS),
                                             'RGA relation_path')
        embed_dim = reduced_width(feature_dim, reduction, 'RGA', 'reduction', 'node features',
                                  'its in_channels in the spatial gate, the h·w positions of '
                                  'spatial_size in the channel gate')

        def refusal(out_dim: int, reason: str) -> ConfigError:
            return ConfigError(
                f'RGA norm_cfg={norm_cfg!r} cannot normalise the {out_dim}-channel output of '
                f'one of its 1×1 convs ({reason}): RGA normalises every 1×1 conv, down to the '
                f'1-channel gate logits, so use BN or SyncBN, or GN with num_groups=1')

        def embedding(in_dim: int, out_dim: int, act: bool = True) -> ConvModule:
            try:
                conv = ConvModule(in_dim, out_dim, 1, norm_cfg=norm_cfg,
                                  act_cfg=dict(type='ReLU') if act else None)
            except (ValueError, AssertionError) as error:  # as GroupNorm and mmcv refuse
                raise refusal(out_dim, str(error) or 'mmcv refused the config') from error
            if conv.with_norm and not isinstance(conv.norm, PER_CHANNEL_NORMS):
                raise refusal(out_dim, f'{type(conv.norm).__name__} is neither a BatchNorm nor '
                                       f'a GroupNorm')
            if conv.with_norm and isinstance(conv.norm, _BatchNorm):
                try:  # BN1d and BN3d take no (B, C, H, W) map
                    conv.norm._check_input_dim(torch.empty(1, out_dim, 1, 1, device='meta'))
                except ValueError as error:
                    raise refusal(out_dim, f'{type(conv.norm).__name__}: {error}') from None
            return conv

        gate_in = 0
        if use_relation:
            relation_dim = reduced_width(self.num_nodes, reduction, 'RGA', 'reduction', 'nodes',
                                         'the h·w positions of spatial_size in its spatial '
                                         'gate, its in_channels in the channel gate')
            self.theta = embedding(feature_dim, embed_dim)
            self.phi = embedding(feature_dim, embed_dim)
            self.relation_embed = embedding(2 * self.num_nodes, relation_dim)
            gate_in += relation_dim
        if use_appearance:
            self.appearance_embed = embedding(feature_dim, embed_dim)
            gate_in += 1
        hidden = max(1, gate_in // gate_reduction)
        self.gate_mlp = nn.Sequential(
            embedding(gate_in, hidden), embedding(hidden, 1, act=False))
        self.use_relation = use_relation
        self.use_appearance = use_appearance

    def embeddings(self, node_map: Tensor) -> dict[str, Tensor]:
        """θ, φ and ψ of every node, as one convolution (they read the same node map).

        Returns a dict of (B, D // s1, H', W') maps keyed ``'theta'``, ``'phi'`` and
        ``'appearance_embed'`` (those the gate has).
        """
        names = [name for name in ('theta', 'phi', 'appearance_embed') if hasattr(self, name)]
        return dict(zip(names, shared_input_convs([getattr(self, n) for n in names], node_map)))

    def relation_features(self, theta_map: Tensor, phi_map: Tensor) -> Tensor:
        """ϕ(r_p) for every node from its embeddings θ, φ: (B, d, H', W') → (B, N // s1, H', W').

        When (H', W') differs from the built grid, relations are taken against the
        embeddings pooled onto the grid (RoIAlign), giving a full-resolution response.
        """
        theta, phi = theta_map.flatten(2), phi_map.flatten(2)
        if tuple(theta_map.shape[-2:]) == self.grid_size:
            theta_ref, phi_ref = theta, phi  # the paper's case: relations among the nodes
        else:
            theta_ref = pool_to_grid(theta_map, self.grid_size).flatten(2)
            phi_ref = pool_to_grid(phi_map, self.grid_size).flatten(2)
        embed = self.relation_embed
        weight, bias, normalized = conv_weights(embed)
        response = RELATION_PATHS[self.relation_path](theta, phi, theta_ref, phi_ref, weight,
                                                      bias)
        response = response.unflatten(2, theta_map.shape[-2:])
        if not normalized:
            response = embed.norm(response)
        return embed.activate(response)

    def gate_terms(self, node_map: Tensor) -> list[Tensor]:
        """The parts of y_p (Eq. 2), in order: pool_c(ψ(x_p)) (B, 1, H', W') and
        ϕ(r_p) (B, N // s1, H', W'), those the gate has."""
        embeddings = self.embeddings(node_map)
        terms = []
        if self.use_appearance:
            terms.append(embeddings['appearance_embed'].mean(dim=1, keepdim=True))
        if self.use_relation:
            terms.append(self.relation_features(embeddings['theta'], embeddings['phi']))
        return terms

    def gate_logits(self, terms: list[Tensor]) -> Tensor:
        """W2 · ReLU(W1 · y_p) with BNs (Eq. 3) from :meth:`gate_terms`: → (B, 1, H', W')."""
        return self.gate_mlp[1](conv_over_concatenation(self.gate_mlp[0], terms))

    def forward(self, node_map: Tensor) -> Tensor:
        """Attention logits (before the sigmoid): (B, D, H', W') → (B, 1, H', W')."""
        return self.gate_logits(self.gate_terms(node_map))
