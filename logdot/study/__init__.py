"""The paper study: the digits data set, its CNN and training loop (:mod:`.data`), the sweep
of quantized runs (:mod:`.sweep`), and its tables (:mod:`.tables`) and figures
(:mod:`.figures`). ``examples/paper_study.py`` is the command line."""
