"""CSV cells that a spreadsheet opens as text, never as a formula.

Excel, WPS and LibreOffice read a cell that begins with = + - @ (or a tab or a carriage return)
as a formula: a complaint sent as `=HYPERLINK("http://…","点击")` would become a live link in an
analyst's sheet, and a Weibo post such as "@某品牌 …" a formula error. A cell this project writes
that begins so gets a leading apostrophe, the spreadsheets' own mark of text; every CSV the
project reads loses that apostrophe again, so a file it wrote reads back as it was.
"""

from __future__ import annotations

from collections.abc import Mapping

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def as_text_cell(value: str) -> str:
    """`value` as a cell a spreadsheet shows as text: marked when it would start a formula."""
    return TEXT_MARK + value if value.startswith(FORMULA_STARTS) else value


def text_row(row: Mapping[str, object]) -> dict[str, object]:
    """A row to write: its strings as text cells (`as_text_cell`), other values as they are."""
    return {name: as_text_cell(value) if isinstance(value, str) else value for name, value in row.items()}


def cell_value(cell: str) -> str:
    """What a cell read from a CSV holds: without the text mark `as_text_cell` put before a formula
    start (an apostrophe before anything else is the text's own)."""
    return cell[1:] if cell.startswith(TEXT_MARK) and cell[1:].startswith(FORMULA_STARTS) else cell
