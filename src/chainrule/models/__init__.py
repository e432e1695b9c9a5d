"""Ready-made models built from chainrule.nn layers, and the registry that names them."""

from chainrule.models.bert import BertConfig, BertModel, SentenceEncoder
from chainrule.models.gpt import GPT
from chainrule.models.lenet import LeNet5
from chainrule.models.mlp import MLP
from chainrule.models.registry import MODELS, get_model, register_model
from chainrule.models.resnet import BasicBlock, Bottleneck, ResNet, resnet18, resnet34, resnet50, resnet_small
from chainrule.models.tokenization import BertTokenizer
from chainrule.models.vit import ViT
