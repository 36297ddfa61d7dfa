"""CSV cells that a spreadsheet opens as text, never as a formula.

Excel, WPS and LibreOffice read a cell that begins with = + - @ (or a tab or a carriage return)
as a formula: a complaint sent as `=HYPERLINK("http://…","点击")` would become a live link in an
analyst's sheet, and a Weibo post such as "@某品牌 …" a formula error. A cell this project writes
that begins so gets a leading apostrophe, the spreadsheets' own mark of text; every CSV the
project reads loses that apostrophe again, so a file it wrote reads back as it was. A cell whose
own text begins with apostrophes before such a start ("'@某品牌 …" as the customer wrote it) gets
one more, so that neither a spreadsheet nor the project's reader takes its own for the mark.
"""

from __future__ import annotations

from collections.abc import Mapping

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
TEXT_MARK = "'"


def _needs_mark(value: str) -> bool:
    """`value` starts a formula, perhaps after apostrophes of its own (which a reader would take
    for the mark)."""
    return value.lstrip(TEXT_MARK).startswith(FORMULA_STARTS)


def as_text_cell(value: str) -> str:
    """`value` as a cell a spreadsheet shows as text: marked when it would start a formula, or
    when its own leading apostrophes come before one."""
    return TEXT_MARK + value if _needs_mark(value) else value


def text_row(row: Mapping[str, object]) -> dict[str, object]:
    """A row to write: its strings as text cells (`as_text_cell`), other values as they are."""
    return {name: as_text_cell(value) if isinstance(value, str) else value for name, value in row.items()}


def cell_value(cell: str) -> str:
    """What a cell read from a CSV holds: without the text mark `as_text_cell` put before a formula
    start, or before apostrophes of the text's own and one (an apostrophe before anything else is
    the text's own)."""
    return cell[1:] if cell.startswith(TEXT_MARK) and _needs_mark(cell[1:]) else cell
