"""The study report: one self-contained HTML page, its figures, the CSVs `dvc plots` reads, and the
tables the stages and `nas summary` print.

Everything here is a pure function of the already-loaded tables, so the same inputs give the same
bytes (HTML and CSV always; PNG too, since the Agg backend writes no date and we drop the Software
tag). Every file goes through `nas.io.atomic_path`, so a killed run never leaves half a report.
Variants are always listed in sorted order, whatever order the caller's dicts come in.

One module per job (import the module you need; this package imports nothing):
  formats.py   labels and number formats of every metric ('0.623 [0.512, 0.708]', 'P@5', p-values)
  tables.py    lookups in the long tables (a statistic's row, a run's pick, a run's variant) and the
               formatted frames both the terminal and the page show
  text.py      what the terminal shows: `nas summary`, and the tables the select, heuristics and
               stability stages print
  page.py      the HTML page (index.html) and its tables; write_report writes the page, figures, CSVs
  plots.py     the CSV frames `dvc plots` draws, and the offline page `dvc plots show` uses
  figures/     the PNG figures, one module per group (matplotlib imported on first use only)
The metrics JSON the data stages write is not here: nas.metrics_files.
"""
