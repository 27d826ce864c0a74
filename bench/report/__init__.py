"""Reports: the paper's tables and Figure 1 regenerated from run stores, set against the paper's
numbers, with bootstrap intervals, paired comparisons, qualitative grids, a protocol audit, one
self-contained HTML file and CSV/Markdown/LaTeX exports.

Modules (each with one job; nothing here runs a model):

- :mod:`.paper`: the paper's numbers (package data ``bench/data/paper_results.csv``) and table metadata;
- :mod:`.runs`: reading run directories (records, manifests, saved images, the run's scale);
- :mod:`.tables`: the table specs of Tables 1-8 and the builder;
- :mod:`.stats`: bootstrap intervals (BCa) and paired comparisons;
- :mod:`.radar`: Figure 1; :mod:`.grids`: Figures 4-5; :mod:`.audit`: the protocol audit;
- :mod:`.export`: CSV/Markdown/LaTeX; :mod:`.html`: the template context; :mod:`.build`: all of it.

Importing this package imports nothing heavy; each module imports numpy/pandas/matplotlib lazily.
"""
