"""Training a network, the book's chapter-5 protocol and beyond: the config
(``config``), the network it builds (``build``), the loop (``loop``: ``TrainingLoop``),
its record (``history``), how it uses the machine (``tuning``), run folders on disk
(``folder``, ``runs``, ``checkpoint``), a run told live (``live``), its figures
(``plots``) and a trained network's accuracy per class (``evaluation``). Built on
``core``, ``store``, ``nn`` and ``data``."""
