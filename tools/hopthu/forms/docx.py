"""Word documents (.docx) → one grid per table, with python-docx.

An annex in Word is a table in the letter (or in its own document). python-docx gives each layout-grid
position its cell, so a cell merged across columns or down rows appears at every position it covers:
the first appearance is the cell's own, later ones are copies. The document's paragraphs are kept as
the text outside the tables, where the letter states its reason (Lý do …).
"""

from __future__ import annotations

from collections.abc import Iterator

from hopthu.forms.files import OfficeFile
from hopthu.forms.grid import Grid, Row
from hopthu.forms.problems import FormError

MAX_TABLE_ROWS = 20_000
MAX_COLUMNS = 60


def read_document(source: OfficeFile) -> Iterator[Grid]:
    """Every table of the document in order, named ``table N`` (1-based, as Word users count)."""
    import docx

    try:
        document = docx.Document(str(source.path))
        tables = list(document.tables)
        texts = tuple(p.text for p in document.paragraphs if p.text.strip())
    except Exception as error:  # python-docx and lxml raise many kinds for a damaged document
        raise FormError(
            source.shown,
            f"cannot read the document ({type(error).__name__}): open it in Word and save it again",
            "file-damaged",
        ) from None
    for number, table in enumerate(tables, 1):
        yield _grid(source, f"table {number}", table, texts)


def _grid(source: OfficeFile, name: str, table, texts: tuple[str, ...]) -> Grid:
    rows = []
    above: list[object] = []  # the w:tc elements of the previous row, by grid position
    for number, row in enumerate(table.rows, 1):
        if number > MAX_TABLE_ROWS:
            raise FormError(
                f"{source.shown}:{name}",
                f"the table has more than {MAX_TABLE_ROWS:,} rows: split the list into several files",
                "sheet-too-large",
            )
        cells = [None] * row.grid_cols_before + list(row.cells)[:MAX_COLUMNS]
        values: list[str | None] = []
        own: list[bool] = []
        elements: list[object] = []
        for position, cell in enumerate(cells):
            element = cell._tc if cell is not None else None
            first_here = element is None or (
                (position == 0 or elements[position - 1] is not element)
                and (position >= len(above) or above[position] is not element)
            )
            values.append(cell.text if cell is not None else None)
            own.append(first_here)
            elements.append(element)
        rows.append(Row(number, tuple(values), tuple(own)))
        above = elements
    return Grid(source.shown, "docx", name, tuple(rows), texts)
