from .relation import dense_relation_response, factorized_relation_response, relation_map
from .relation_gate import RelationGate
from .rga import RGA

__all__ = ['RGA', 'RelationGate', 'dense_relation_response', 'factorized_relation_response',
           'relation_map']
