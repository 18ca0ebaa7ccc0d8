"""CSV files → one grid, as Excel saves them: UTF-8 with or without a BOM, comma or semicolon separated.

Excel's "CSV UTF-8" starts with a BOM; its separator is the list separator of the Windows region
settings (a comma in Vietnam, a semicolon in much of Europe). Plain "CSV" is saved in the Windows code
page (CP1258 for Vietnamese), which hopthu does not guess at: it asks for CSV UTF-8. Locations are the
line a record starts on, so a quoted cell with a line break does not shift them.
"""

from __future__ import annotations

import csv
import io

from hopthu.forms.files import MAX_FILE_BYTES, OfficeFile
from hopthu.forms.grid import Grid, Row
from hopthu.forms.problems import FormError

MAX_LINES = 100_000
MAX_COLUMNS = 60
SEPARATORS = (",", ";", "\t")
_SAMPLE_LINES = 30


def read_csv(source: OfficeFile) -> Grid:
    data = source.path.read_bytes()[: MAX_FILE_BYTES + 1]
    if data.startswith(b"\xef\xbb\xbf"):
        data = data[3:]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data[: error.start].count(b"\n") + 1
        raise FormError(
            f"{source.shown}:line {line}",
            'the file is not UTF-8 (Excel\'s plain "CSV" uses the Windows code page): save the sheet as '
            "CSV UTF-8 (Comma delimited) (*.csv) and import that",
            "file-encoding",
        ) from None
    separator = _separator(text)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator)
    rows = []
    start = 1
    try:
        for record in reader:
            if len(rows) >= MAX_LINES:
                raise FormError(
                    source.shown,
                    f"the file has more than {MAX_LINES:,} records: split it into smaller files",
                    "sheet-too-large",
                )
            values = tuple(record[:MAX_COLUMNS])
            rows.append(Row(start, values, (True,) * len(values)))
            start = reader.line_num + 1
    except csv.Error as error:
        raise FormError(f"{source.shown}:line {start}", f"not valid CSV: {error}", "file-damaged") from None
    return Grid(source.shown, "csv", "", tuple(rows))


def _separator(text: str) -> str:
    """The separator used most outside quotes in the first lines (titles above the header have few)."""
    sample = "\n".join(text.splitlines()[:_SAMPLE_LINES])
    counts = dict.fromkeys(SEPARATORS, 0)
    quoted = False
    for char in sample:
        if char == '"':
            quoted = not quoted
        elif not quoted and char in counts:
            counts[char] += 1
    best = max(SEPARATORS, key=lambda s: counts[s])
    return best if counts[best] else ","
