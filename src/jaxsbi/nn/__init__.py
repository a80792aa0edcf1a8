"""flax building blocks. Modules are implementation details: params are plain pytrees."""

from jaxsbi.nn.conv import ConvEmbedding as ConvEmbedding
from jaxsbi.nn.mlp import MLP as MLP
from jaxsbi.nn.mlp import activation as activation
