from .cbam import CBAM, CBAMChannel, CBAMSpatial
from .fc_attention import FCChannel, FCSpatial, FCSpatialChannel
from .non_local import NonLocal
from .relation import dense_relation_response, factorized_relation_response, relation_map
from .relation_gate import RelationGate
from .rga import RGA
from .se import SE

__all__ = [
    'CBAM', 'CBAMChannel', 'CBAMSpatial', 'FCChannel', 'FCSpatial', 'FCSpatialChannel',
    'NonLocal', 'RGA', 'RelationGate', 'SE', 'dense_relation_response',
    'factorized_relation_response', 'relation_map'
]
