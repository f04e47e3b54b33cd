"""Log templates: token classes, Drain3's online tree, a generalizing merge layer, plain-JSON state.

* :mod:`.tokens` - which parts of a message are variables, by shape (one compiled pass);
* :mod:`.miner` - :class:`TemplateMiner`: Drain3's tree, the cache, ids stable across runs;
* :mod:`.merge` - which positions are variables and which clusters are one, from counts;
* :mod:`.persistence` - where the state lives and how it is read back (plain data only);
* :mod:`.config` - :class:`TemplateConfig`, every setting.

See docs/templates.md for the method and its measured accuracy.
"""
from .config import DEFAULT_MASKING, TemplateConfig
from .miner import TemplateMatch, TemplateMiner
from .persistence import STATE_FILE, FilePersistence, MemoryPersistence, StateError, StatePersistence
from .tokens import DIGITS_TO_ONE, TOKEN_CLASSES, Masker, digit_blind

__all__ = ["TemplateConfig", "TemplateMiner", "TemplateMatch", "Masker", "StatePersistence",
           "FilePersistence", "MemoryPersistence", "StateError", "DEFAULT_MASKING", "TOKEN_CLASSES",
           "STATE_FILE", "DIGITS_TO_ONE", "digit_blind"]
