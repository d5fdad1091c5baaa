"""The domain of rxtrace, with no knowledge of the web, the command line or the scanners.

Layers, each importing only those below it:

* the pure core in this folder: codes (``codes``), coordinates (``coords``), the keyed hashes
  and masks of identity data (``protect``), money (``money``), errors (``errors``);
* ``store``: engines, sessions, tables, migrations, bulk writing;
* ``ingest``: contract files into the store;
* ``resolve``: seized codes to the sales that paid for them;
* ``investigate``: leads, their basis and workflow, link charts and timelines;
* ``demo``: the generated demo world (the core only).
"""
