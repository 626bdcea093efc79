"""What reproduces the book: its ``Trainer`` (``trainer``), ``common/util.py``
(``util``), ``dataset/mnist.py`` (``mnist``), the chapter-5 example graphs
(``examples``), the chapter-6 and chapter-7 experiments (``experiments``) and their
figures (``figures``). The book's own import names live in :mod:`chainrule.book_shim`."""
