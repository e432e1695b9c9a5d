"""Transfer learning: fine-tune a pretrained sentence encoder to classify text (``chainrule finetune``).

The run reads a CSV/TSV file (:mod:`.data`), tokenizes once and batches by
length (:mod:`.batching`), trains the head on the frozen encoder and then the
top layers (:mod:`.finetune`, :mod:`.classifier`; a seed ensemble of such
classifiers with :mod:`.members` and :mod:`.ensemble`), trains two baselines on the
same sentences (:mod:`.baselines`) and writes the comparison (:mod:`.report`);
:mod:`.pipeline` ties them together and :mod:`.sst2` fetches GLUE's SST-2.
"""

from chainrule.apps.finetune.classifier import PooledHead, SentenceClassifier, TopLayers
from chainrule.apps.finetune.data import LabelMap, Table, TableError, read_table
from chainrule.apps.finetune.ensemble import MeanOfMembers
from chainrule.apps.finetune.finetune import FinetuneConfig, evaluate, finetune
from chainrule.apps.finetune.pipeline import FinetuneError, Options, run
from chainrule.apps.finetune.sst2 import load_sst2

__all__ = [
    "FinetuneConfig",
    "FinetuneError",
    "LabelMap",
    "MeanOfMembers",
    "Options",
    "PooledHead",
    "SentenceClassifier",
    "Table",
    "TableError",
    "TopLayers",
    "evaluate",
    "finetune",
    "load_sst2",
    "read_table",
    "run",
]
