"""Office files in: the annex lists (phụ lục) units send and HR's staff roster, read into request files.

Data flows one way, from the office file to a request file that is then validated like a hand-written one:

- ``files``: what kind of file it is, and the refusals that come before any parser runs (not a spreadsheet,
  password-protected, macro-enabled, an archive bomb);
- ``grid``: the cells of one sheet, Word table or CSV file as rows of values with their locations;
  ``xlsx``, ``docx``, ``csvfile``: the three readers that make a grid;
- ``headers``: column headers matched by meaning (case, diacritics, line breaks and wording ignored);
- ``annex``: a grid → located records (header row found below titles, STT, blank rows and the signature
  block skipped, values normalised) and located problems;
- ``build``: records → the request file's text, in the layout of a hand-written request;
- ``importer``: the ``hopthu import`` job (read, name, validate, then write — or write nothing);
- ``template``: the blank annexes units fill; ``roster``: HR's staff list against the directory.
"""
