"""Text normalisation and PII masking, with a map from every output character to the input.

`normalise` is the fast path used for features. `prepare` does the same work but also keeps,
for every character of the result, the span of the original text it came from, so that an
explanation term found in the normalised text can be highlighted in the original text and in
the masked text that is stored and shown to agents.
"""

from __future__ import annotations

import bisect
import re
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date
from functools import lru_cache

import opencc

# What personal data becomes in the masked text that is stored and shown.
# Chinese characters (a character class's ranges): the unified ideographs, extension A, and the
# planes beyond the Basic Multilingual Plane that hold extensions B to I and the compatibility
# supplement (rare characters such as 𠮷 of 𠮷野家; the few unassigned code points between them
# count too, which no real text has).
CJK_IDEOGRAPHS = "\u3400-\u4dbf\u4e00-\u9fff\U00020000-\U000323af"
PLACEHOLDERS: dict[str, str] = {
    "email": "[EMAIL]",
    "id_card": "[IDCARD]",
    "bank_card": "[BANKCARD]",
    "mobile": "[PHONE]",
    "landline": "[PHONE]",
    "qq": "[QQ]",
    "wechat": "[WECHAT]",
}

# A letter may come before or after a number ("Tel13812345678", "13812345678vx同号"), a digit not.
_NO_DIGIT_BEFORE = r"(?<![0-9])"
# An area or country code in parentheses is set apart by them from a digit before it, as a letter
# would be ("订单736(010)56232645", "2(852)9123 4567"): the phone patterns that take one need no
# non-digit before it.
_NO_DIGIT_BEFORE_OR_PAREN = r"(?:(?<![0-9])|(?=\())"
_NO_DIGIT_AFTER = r"(?![0-9])"
# Phone numbers are written in groups set apart by a space, a dash or a dot, maybe with spaces
# around it ("139 - 1234 - 5678", "139.1234.5678", "139—1234—5678").
_MARKED_SEP = r"(?: ?[\-.\u2013\u2014] ?| )"
_SEP = _MARKED_SEP + "?"
# An address is found by its '@' and domain (each domain label atomic: long letter runs cost no
# quadratic time), then its local part in the run of word characters before the '@', at most 64 of
# them and none of the address before it: Chinese has no spaces to end a run ("联系abc@qq.com",
# "邮箱是张三@qq.com", "a@qq.com或者b@163.com"): `_email_local_part` picks the address.
# A dot of the domain may be typed as the Chinese full stop ("zhang@qq。com"), which NFKC keeps.
_EMAIL_DOMAIN = re.compile(r"(?<=[\w.%+\-])@(?>[A-Za-z0-9\-]+[.。])+[A-Za-z]{2,}")
_EMAIL_RUN = re.compile(r"[\w.%+\-]++\Z")
_EMAIL_INTRO = re.compile(r".*(?:邮箱|邮件|信箱|地址|是|为)")
_ASCII_TAIL = re.compile(r"[A-Za-z0-9._%+\-]+$")
_EMAIL_LOCAL_MAX = 64  # the longest local part there is
# ID numbers too may be written in groups ("110105 19491231 002X"), maybe after other groups
# ("138 1234 5678 110105 19491231 002X"): the pattern is a lookahead, so that a candidate that
# fails the check ("5678 110105 19491231") does not hide one that begins inside it.
_ID_CARD = re.compile("(?=(" + _NO_DIGIT_BEFORE + r"\d(?:[ \-]?\d){16}[ \-]?[\dXx]" + _NO_DIGIT_AFTER + "))")
# First-generation ID numbers (before 1999): 15 digits, the birth date as YYMMDD.
_OLD_ID_CARD = re.compile(_NO_DIGIT_BEFORE + r"[1-8]\d{14}" + _NO_DIGIT_AFTER)
# Card numbers may be written in groups separated by spaces or dashes; a run of such groups may
# hold more than the card ("卡号6222… 100元"), so `_bank_card_spans` looks inside it.
_BANK_CARD = re.compile(_NO_DIGIT_BEFORE + r"\d(?:[ \-]?\d){14,}" + _NO_DIGIT_AFTER)
_DIGIT_GROUP = re.compile(r"\d+")
# What a number is not followed by unless it is an amount, a count or a decimal: "100元", "20kg".
_NO_AMOUNT_AFTER = r"(?![0-9]|\.[0-9]|[元块角万千百亿%‰次个件台张份米斤克吨年美A-Za-z])"
# Mainland mobiles (eleven digits, 1[3-9] first, maybe after +86), and Taiwan's (09xx xxx xxx, or
# +886 9xx…), which the traditional-Chinese complaints give. A mainland mobile is written whole, in
# groups of 3-4-4 (a separator maybe left out: 3-8, 7-4), 4-3-4 or 3-3-5 ("138 1234 5678",
# "1381-234-5678", "138 123 45678"), or cut in two anywhere by a dash ("1381-2345678"), a space or
# a line break, which the text read has as a space ("13812\n345678"), so long as both parts have
# three digits and the second is no amount: one or two digits before it are a count
# ("数量13\n812345678"), one or two after it, or digits with a unit, a count on the next line
# ("1381234567\n12件", "13812345\n100元", "1381-2345678元").
_MOBILE_CUT_IN_TWO = "|".join(rf"\d{{{before - 2}}}[ \-]\d{{{11 - before}}}" for before in range(3, 9))
_MAINLAND_MOBILE = (
    rf"(?:(?:\+|00)?86{_SEP})?1[3-9]"
    rf"(?:\d(?:{_SEP}\d{{4}}){{2}}"
    rf"|\d{{2}}{_MARKED_SEP}\d{{3}}{_MARKED_SEP}\d{{4}}|\d{_MARKED_SEP}\d{{3}}{_MARKED_SEP}\d{{5}}"
    rf"|(?:{_MOBILE_CUT_IN_TWO}){_NO_AMOUNT_AFTER})"
)
_MOBILE = re.compile(
    _NO_DIGIT_BEFORE
    + rf"(?:{_MAINLAND_MOBILE}"
    + rf"|(?:(?:\+|00)?886{_SEP}|0)9\d{{2}}(?:{_SEP}\d{{3}}){{2}})"
    + _NO_DIGIT_AFTER
)
# Hong Kong and Macau numbers (eight digits, maybe 4-4) and Taiwan landlines (the area code without
# its 0, then seven or eight digits), told from other numbers by their country code (+852, 00853,
# "(852)", "852-"; +886): "+852 9123 4567", "(853) 6612 3456", "+886 2 2712 3456".
_COUNTRY_CODE = r"(?:(?:\+|00){code}{sep}|\((?:\+|00)?{code}\) ?|{code}[ \-])"
_ABROAD = re.compile(
    _NO_DIGIT_BEFORE_OR_PAREN
    + "(?:"
    + _COUNTRY_CODE.format(code="85[23]", sep=_SEP)
    + rf"\d{{4}}{_SEP}\d{{4}}|"
    + _COUNTRY_CODE.format(code="886", sep=_SEP)
    + rf"\(?0?[2-8]\d?\)?{_SEP}\d{{3,4}}{_SEP}\d{{4}})"
    + _NO_DIGIT_AFTER
)
# Area codes without their leading 0: 10 (Beijing), 2x, or three digits from 3xx to 9xx. With the
# country code (+86, 0086, "86-") the 0 is usually left out. The local number has 7 or 8 digits,
# the last four maybe set apart ("6888 8888"); an extension follows 转 or a dash.
_AREA = r"(?:10|2\d|[3-9]\d{2})"
_LANDLINE_AREA = rf"(?:(?:(?:\+|00)86{_SEP}|86[ \-])\(?0?{_AREA}\)?|\(0{_AREA}\)|0{_AREA}){_SEP}"
_LOCAL_NUMBER = rf"[2-9]\d{{2,3}}{_SEP}\d{{4}}"
_EXTENSION = r"(?:[ \-]?转\d{1,5}|-\d{1,5})"
# Taiwan landlines without the country code, which the traditional-Chinese complaints give: the area
# code with its 0 (02 to 08, 049; 037, 082, 089) in parentheses or set apart by a dash, a dot or a
# space, then the local number of seven or eight digits, of six or seven after 037, 082 and 089:
# "(02)2712-3456", "04-2345-6789", "(07)345-6789", "(089)326-141". The mark after it keeps it from a
# mainland area code (021, 0871), whose digits go on. Bare digits are left to the mainland shapes,
# and after a digit and a dash, slash, dot or colon the two digits are the month or day of a date,
# or the minutes of a time ("2026-12-07 345-6789"), not an area code.
_TAIWAN_AREA = r"(?:\({code}\) ?|{code}" + _MARKED_SEP + ")"
_TAIWAN_LANDLINE = (
    r"(?<![0-9][\-/.:])(?:"
    + _TAIWAN_AREA.format(code=r"0(?:[2-8]|49)")
    + _LOCAL_NUMBER
    + "|"
    + _TAIWAN_AREA.format(code="0(?:37|8[29])")
    + rf"[2-9]\d{{2}}{_SEP}\d{{3,4}})"
)
_LANDLINE = re.compile(
    _NO_DIGIT_BEFORE_OR_PAREN
    + rf"(?:{_LANDLINE_AREA}{_LOCAL_NUMBER}|{_TAIWAN_LANDLINE})"
    + _EXTENSION
    + "?"
    + _NO_DIGIT_AFTER
)
# Other numbers of the same area written after a landline without the area code, as alternatives
# after a slash, a comma, 、, a semicolon, a tilde, 或/和, a dash or a space: "0755-86001234/86001235",
# "010-62345678、62345679或8600-1235". A date ("，20261201下的单") or an amount, count or range
# (decimals, or a unit after it: 元, 次, 件, kg, 年 of "2025-2026年度" …) is none (`_with_alternatives`);
# a range without a unit ("3000-5000的预算") is masked: a leaked number costs more.
_ALTERNATIVE = re.compile(
    rf"(?: ?(?:[/,;~、]|或者?|和) ?| |[\-\u2013\u2014])(?P<number>{_LOCAL_NUMBER}){_EXTENSION}?{_NO_AMOUNT_AFTER}"
)
# Another number written as the digits it ends in, after a slash: "0755-86001234/5" for 86001234
# or 86001235, "86001234/35", "13812345678/9". It tells little alone but is part of a phone number,
# masked with the number before it; a slash with no phone number before it ("3/5", "12/5") is no
# such suffix, nor an area code with its number after it ("/0431 - 4672641").
_SUFFIX = re.compile(rf"/[0-9]{{1,4}}{_NO_AMOUNT_AFTER}(?!{_SEP}[0-9])")
# Landlines and mobiles glued together with nothing between ("010-6234567802162345678",
# "电话07558600123407558600123", a landline then a mobile, "+86 138…+86 139…"): each touches
# a digit of the next, so `_LANDLINE` takes none of them. From a landline or mainland mobile with no
# digit before, the numbers after it each begin with their area code's 0 or the mobile's 1, and the
# last has no digit after (its extension may follow): a run that splits so, exactly, is masked number
# by number (`_glued_phones`); any digit left over makes it an order number or the like, kept. A
# landline has no check digit, so a run of bare digits is only taken for phones after a word naming
# one (`_PHONE_WORD`: 电话, 手机号, 联系我, 拨打, 打 …) or with an extension after 转: 3-14 % of
# long order numbers beginning with 0 or 1 would split so.
_GLUED_PHONE_START = re.compile(
    _NO_DIGIT_BEFORE_OR_PAREN + rf"(?=(?:{_LANDLINE_AREA}{_LOCAL_NUMBER}|{_MAINLAND_MOBILE})[01])"
)
_GLUED_PHONES: tuple[tuple[str, re.Pattern[str]], ...] = (
    ("landline", re.compile(_LANDLINE_AREA + rf"[2-9]\d{{3}}{_SEP}\d{{4}}")),  # a local number of 8 digits
    ("landline", re.compile(_LANDLINE_AREA + rf"[2-9]\d{{2}}{_SEP}\d{{4}}")),  # of 7
    ("mobile", re.compile(_MAINLAND_MOBILE)),
)
_GLUED_PHONE_END = {
    "landline": re.compile(_EXTENSION + "?" + _NO_DIGIT_AFTER),
    "mobile": re.compile(_NO_DIGIT_AFTER),
}
_PHONE_WORDS = r"(?i:电话|座机|手机|致电|来电|联系|拨打|打|热线|tel|phone)(?:号码|号|方式|我)?(?:是|为)? ?[:：]? ?"
_PHONE_WORD = re.compile(_PHONE_WORDS + "$")
# A local number without its area code is told from a price or a count only by that word before it
# ("座机62345678", "电话：8600 1234转802"): masked there, unless a date or an amount ("打2345678次").
_LOCAL_AFTER_WORD = re.compile(_PHONE_WORDS + rf"(?P<number>{_LOCAL_NUMBER}){_EXTENSION}?{_NO_AMOUNT_AFTER}")
# Phone numbers said aloud and written down in Chinese numerals (幺 and 两 are the spoken 1 and 2),
# maybe mixed with digits: "幺三九一二三四五六七八", "〇一〇六二三四五六七八". As many of them as a
# mobile (eleven) or a landline with its area code's 0 (nine to twelve) has, then `_chinese_phone`
# checks the number's shape, so "一二三四五六七八九十" is no number. They touch no other Chinese
# numeral, and a digit only where they end in Chinese numerals: a number in digits just before or
# after them is another number, only the space between was dropped as layout beside Chinese
# ("手机13912345678 幺三八…" is read "13912345678幺三八…").
_CHINESE_DIGITS = str.maketrans("零〇一幺二两三四五六七八九", "0011223456789")
_CHINESE_ONLY = "零〇一幺二两三四五六七八九"
_CHINESE_NUMERAL = _CHINESE_ONLY + "0-9"
_CHINESE_PHONES = tuple(
    re.compile(
        rf"(?<![{_CHINESE_ONLY}])(?:(?<![0-9])|(?=[{_CHINESE_ONLY}]))"
        rf"[{_CHINESE_NUMERAL}](?:{_SEP}[{_CHINESE_NUMERAL}]){{{count - 1}}}"
        rf"(?![{_CHINESE_ONLY}])(?:(?![0-9])|(?<=[{_CHINESE_ONLY}]))"
    )
    for count in (11, 9, 10, 12)
)
_MOBILE_DIGITS = re.compile(r"1[3-9]\d{9}")
# A landline's digits with its area code's 0: mainland (`_AREA`) or Taiwan (`_TAIWAN_LANDLINE`).
_LANDLINE_DIGITS = re.compile(rf"0(?:{_AREA}|[2-8]|49)[2-9]\d{{6,7}}|0(?:37|8[29])[2-9]\d{{5,6}}")
# QQ numbers and WeChat ids are only told from order numbers and words by the word before them
# ("QQ号：12345678", "加我vx abc_123456"). Only the number or id is masked. A WeChat id (6-20
# characters, a letter first) also needs a word saying it is one (微信号, 微信id, 微信:) or a digit,
# '_' or '-' in it, so that "微信Android版" keeps its word.
_QQ = re.compile(r"(?i:qq|扣扣)(?:号码|号|群)?(?:是|为)?[: ]?([1-9]\d{4,11})(?!\d)")
_WECHAT = re.compile(
    r"(?i:微信|薇信|v信|vx|wx|weixin|wechat)((?i:号码|账号|帐号|号|id))?(?:是|为)?(:)? ?"
    r"([A-Za-z][A-Za-z0-9_\-]{5,19})(?![A-Za-z0-9_\-])"
)
_ID_MARK = re.compile(r"[0-9_\-]")
# Personal data glued together with nothing between ("11010519491231002X13912345678"): each piece
# touches a digit of the next, so the look-arounds above, which keep a longer number (an order
# number) from being read as a phone, let none of them match. `_glued_pieces` splits such a run.
_GLUED_RUN = re.compile(r"[0-9Xx]{22,}")  # two mobiles, the shortest two pieces, are 22 digits
_MOBILE_PIECE = re.compile(r"1[3-9][0-9]{9}")
_GLUED_START = re.compile(r"(?<![0-9])[0-9]")
_SINGLE_PIECE_MAX = 19  # the longest card number: a stretch longer than this holds two pieces
_WHITESPACE = re.compile(r"\s+")
# Chinese is written without spaces: a space or line break beside a Chinese character or CJK
# punctuation is layout (a wrapped line, a space after a comma), not content, and would otherwise
# change the character n-grams and the length the tier head reads. Spaces between other
# characters ("iPhone 15 Pro", "139 1234 5678") stay, one of each run.
_CJK_CHARS = f"\u3000-\u303f{CJK_IDEOGRAPHS}\uf900-\ufaff\uff00-\uffef"
_LAYOUT_SPACE = re.compile(rf"^ +| +$|(?<=[{_CJK_CHARS}]) +| +(?=[{_CJK_CHARS}])| +(?= )")
# A placeholder written in the text itself: an exported, already masked text read again.
_PLACEHOLDER_KINDS = {placeholder: kind for kind, placeholder in PLACEHOLDERS.items()}
_PLACEHOLDER = re.compile("|".join(map(re.escape, _PLACEHOLDER_KINDS)))
# Every kind of personal data has an '@', a placeholder, seven digits (or Chinese numerals) set
# apart at most by the phone separators (the shortest is a landline's local number), a Taiwan area
# code in parentheses (six digits may follow "(089)"), or the word before a QQ number or WeChat id:
# texts without one skip the scan.
_PII_HINT = re.compile(
    rf"@|\[[A-Z]+\]|[{_CHINESE_NUMERAL}](?:{_SEP}[{_CHINESE_NUMERAL}]){{6}}|\(0[2-8]\d?\)"
    r"|(?i:qq|扣扣|微信|薇信|v信|vx|wx|weixin|wechat)"
)

_ID_WEIGHTS = (7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2)
_ID_CHECK = "10X98765432"


def is_valid_id_card(number: str) -> bool:
    """True for an 18-character PRC resident ID number with a real birth date and check digit."""
    if len(number) != 18 or not number[:17].isdigit():
        return False
    try:
        birth = date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    if not 1900 <= birth.year <= 2100:
        return False
    total = sum(int(d) * w for d, w in zip(number[:17], _ID_WEIGHTS))
    return _ID_CHECK[total % 11] == number[17].upper()


def is_valid_old_id_card(number: str) -> bool:
    """True for a 15-digit first-generation ID number with a real birth date (19YYMMDD)."""
    if len(number) != 15 or not number.isdigit():
        return False
    try:
        date(1900 + int(number[6:8]), int(number[8:10]), int(number[10:12]))
    except ValueError:
        return False
    return True


def is_luhn_valid(digits: str) -> bool:
    """True when a card number passes the Luhn checksum."""
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = int(char)
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_bank_card(digits: str) -> bool:
    # UnionPay (62), Visa (4), Mastercard (5), JCB (35) issuer prefixes, 16-19 digits; American
    # Express (34, 37), 15 digits.
    if len(digits) == 15:
        return digits[:2] in ("34", "37") and is_luhn_valid(digits)
    return 16 <= len(digits) <= 19 and digits[0] in "3456" and is_luhn_valid(digits)


def _bank_card_spans(
    text: str, run_start: int, run_end: int, phones: Callable[[], tuple[list[int], list[int]]]
) -> list[tuple[int, int]]:
    """[start, end) of the card numbers in the run `text`[run_start:run_end], each made of whole
    digit groups, longest first from the left (a run may hold several cards, or a card and an
    amount). Groups that phone numbers written in groups hold all of (`phones`: their `_union`,
    asked for only when needed), such as "138 3488 9708 139 9934 7657", make no card across them:
    one in ten such stretches passes the Luhn check, and the card masked the numbers but the first
    digits."""
    groups = [(match.start(), match.end()) for match in _DIGIT_GROUP.finditer(text, run_start, run_end)]
    spans: list[tuple[int, int]] = []
    first = 0
    while first < len(groups):
        digits, found = "", None
        for last in range(first, len(groups)):
            digits += text[groups[last][0] : groups[last][1]]
            if len(digits) > 19:
                break
            if _is_bank_card(digits) and (
                last == first or not _covered(text, groups[first][0], groups[last][1], phones())
            ):
                found = last
        if found is None:
            first += 1
        else:
            spans.append((groups[first][0], groups[found][1]))
            first = found + 1
    return spans


def _union(spans: list[tuple[int, int]]) -> tuple[list[int], list[int]]:
    """The starts and the ends of the disjoint spans that cover what `spans` cover, in order."""
    starts: list[int] = []
    ends: list[int] = []
    for start, end in sorted(spans):
        if ends and start <= ends[-1]:
            ends[-1] = max(ends[-1], end)
        else:
            starts.append(start)
            ends.append(end)
    return starts, ends


def _covered(text: str, start: int, end: int, union: tuple[list[int], list[int]]) -> bool:
    """True when every digit of `text`[start:end] lies in the spans of `union` (`_union`)."""
    starts, ends = union
    index = bisect.bisect_right(ends, start)
    while index < len(starts) and starts[index] < end:
        if any(char.isdigit() for char in text[start : starts[index]]):
            return False
        start = ends[index]
        index += 1
    return not any(char.isdigit() for char in text[start:end])


def _glued_piece_kind(piece: str) -> str | None:
    """What `piece` of a glued run passes for, if anything: an ID number (its check digit right),
    a card number (Luhn-valid, an issuer's prefix), a mainland mobile (1[3-9] and eleven digits)."""
    if len(piece) == 18 and is_valid_id_card(piece):
        return "id_card"
    if piece.isdigit() and _is_bank_card(piece):
        return "bank_card"
    if _MOBILE_PIECE.fullmatch(piece):
        return "mobile"
    return None


_GLUED_LENGTHS = (11, 15, 16, 17, 18, 19)


def _glued_pieces(run: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of the pieces of personal data glued together in `run`, a run of digits
    and ID check letters with no digit either side.

    A stretch of the run is masked when it splits exactly, with nothing left over, into two or
    more pieces that each pass the strict checks of `_glued_piece_kind`; a stretch begins at the
    run's start or after an ID's check letter, and ends at the run's end or before one. Any digit
    that belongs to no piece makes it an order number or the like, left as it is: a random 22-digit
    number is two mobiles about once in 200, and a number with an ID or card number in it far less.
    From each start, the longest stretch that splits is taken.
    """
    # Every piece that begins where a stretch can reach, each place looked at once.
    pieces_at: dict[int, list[tuple[int, str]]] = {}
    starts = [match.start() for match in _GLUED_START.finditer(run)]
    pending = list(starts)
    while pending:
        position = pending.pop()
        if position in pieces_at:
            continue
        pieces_at[position] = []
        for length in _GLUED_LENGTHS:
            kind = _glued_piece_kind(run[position : position + length]) if position + length <= len(run) else None
            if kind:
                pieces_at[position].append((position + length, kind))
                pending.append(position + length)
    # From the right: the farthest end of a stretch from each place, and its first piece.
    farthest: dict[int, int | None] = {}
    first_piece: dict[int, tuple[int, str]] = {}
    for position in sorted(pieces_at, reverse=True):
        best = position if position == len(run) or run[position] in "Xx" else None
        for end, kind in pieces_at[position]:
            reach = farthest[end]
            if reach is not None and (best is None or reach > best):
                best = reach
                first_piece[position] = (end, kind)
        farthest[position] = best
    pieces: list[tuple[str, int, int]] = []
    for start in starts:
        stretch_end = farthest[start]
        if (pieces and start < pieces[-1][2]) or stretch_end is None or stretch_end - start <= _SINGLE_PIECE_MAX:
            continue
        position = start
        while position < stretch_end:
            end, kind = first_piece[position]
            pieces.append((kind, position, end))
            position = end
    return pieces


def _glued_phones(text: str) -> list[tuple[str, int, int]]:
    """(kind, start, end) of the phone numbers glued together in `text`, chain by chain, from each
    place `_GLUED_PHONE_START` finds: where the digits there split exactly into two or more numbers
    (landlines and mainland mobiles), each after the first beginning with 0 or 1 right after the
    one before, the last with no digit after (but maybe its extension); and where the chain holds a
    separator, ends in an extension after 转, or follows a word naming a phone. Of two splits, the
    one whose first local number is longer is taken. Linear in the text: each place is resolved
    once (`_resolve_chains`), and a chain taken is walked once, not again from the places inside it."""
    links: dict[int, tuple[str, int, int, bool] | None] = {}
    phones: list[tuple[str, int, int]] = []
    walked = 0
    for match in _GLUED_PHONE_START.finditer(text):
        start = match.start()
        if start < walked:
            continue
        _resolve_chains(text, start, links)
        pieces: list[tuple[str, int, int, int]] = []
        position = start
        while (link := links.get(position)) is not None:
            kind, number_end, end, last = link
            pieces.append((kind, position, number_end, end))
            position = end
            if last:
                break
        if not pieces:
            continue
        # a separator in a number, or an extension after 转, or a word naming a phone before the run
        marked = any(not text[a:b].isdigit() for _, a, b, _ in pieces) or "转" in text[pieces[-1][2] : pieces[-1][3]]
        if len(pieces) >= 2 and (marked or _PHONE_WORD.search(text, max(0, start - 8), start)):
            if phones and start < phones[-1][2]:
                # what the chain before took for its last number's extension is this one's area code
                # ("…-0431 2824873138…"): the extension goes, or the local number after it leaked
                phones[-1] = (phones[-1][0], phones[-1][1], walked)
            phones.extend((kind, a, end) for kind, a, _, end in pieces)
            # Places inside it are not walked again; its last number's extension may be the area
            # code of a chain of its own ("…113-0431 2824873"), tried from there. A chain not taken
            # has no place inside it to start from (a run of bare digits), or is one number long.
            walked = pieces[-1][2]
    return phones


def _resolve_chains(text: str, start: int, links: dict[int, tuple[str, int, int, bool] | None]) -> None:
    """Fill `links` for `start` and every place its chain reaches: the first number of the chain
    from there (kind, where the number ends, where the piece ends, and whether it is the last, its
    extension then in the piece), or None when no chain starts there. Depth-first with a stack of
    its own: a chain may be thousands of numbers long."""
    stack = [start]
    while stack:
        position = stack[-1]
        if position in links:
            stack.pop()
            continue
        link: tuple[str, int, int, bool] | None = None
        unresolved = None
        for kind, pattern in _GLUED_PHONES:
            match = pattern.match(text, position)
            if not match:
                continue
            end = match.end()
            last = _GLUED_PHONE_END[kind].match(text, end)
            if last:
                link = (kind, end, last.end(), True)
                break
            if end < len(text) and text[end] in "01":
                if end not in links:
                    unresolved = end
                    break
                if links[end] is not None:
                    link = (kind, end, end, False)
                    break
        if unresolved is not None:
            stack.append(unresolved)  # this place is resolved again once that one is
            continue
        links[position] = link
        stack.pop()


def _is_date(digits: str) -> bool:
    """True for eight digits that read as a date from 1900 to 2100 ("20261201")."""
    if len(digits) != 8 or not digits.isdigit():
        return False
    try:
        return 1900 <= date(int(digits[:4]), int(digits[4:6]), int(digits[6:])).year <= 2100
    except ValueError:
        return False


def _past_suffixes(text: str, end: int) -> int:
    """Where the short alternatives (`_SUFFIX`: "/5", "/35") written after a number ending at `end` end."""
    while suffix := _SUFFIX.match(text, end):
        end = suffix.end()
    return end


def _with_alternatives(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """[start, end) of the landline at [`start`, `end`) and of the other local numbers written after
    it, one after another (`_ALTERNATIVE`), each with its extension and grown over the short
    alternatives after it (`_SUFFIX`); the first date ends them."""
    spans: list[tuple[int, int]] = []
    while True:
        end = _past_suffixes(text, end)
        spans.append((start, end))
        match = _ALTERNATIVE.match(text, end)
        if not match or _is_date(re.sub(r"[^0-9]", "", match.group("number"))):
            return spans
        start, end = match.start("number"), match.end()


def _email_local_part(run: str) -> str:
    """The local part of an e-mail address at the end of `run`, the word characters before '@'.

    After the last word that introduces an address ("邮箱是张三" → "张三"); failing one, its ASCII
    end ("联系abc" → "abc") or, when the run ends in Chinese ("客户李娜"), the whole run: masking a
    word too many costs less than leaking a name. Never more than 64 characters.
    """
    run = run[-_EMAIL_LOCAL_MAX:]
    intro = _EMAIL_INTRO.match(run)
    if intro and intro.end() < len(run):
        return run[intro.end() :]
    tail = _ASCII_TAIL.search(run)
    return tail.group() if tail else run


def _chinese_phone(written: str) -> str | None:
    """What (Chinese) numerals, at least one of them Chinese, read as: a mainland mobile ("mobile"),
    a landline with its area code ("landline"), or None."""
    if written.isascii():
        return None
    digits = re.sub(r"\D", "", written.translate(_CHINESE_DIGITS))
    if _MOBILE_DIGITS.fullmatch(digits):
        return "mobile"
    return "landline" if _LANDLINE_DIGITS.fullmatch(digits) else None


@dataclass(frozen=True)
class PiiMatch:
    """One personal-data span in a text: its kind and [start, end) offsets."""

    kind: str
    start: int
    end: int


def find_pii(text: str) -> list[PiiMatch]:
    """Find personal data in (normalised) text: e-mail, ID card, bank card, mobile, landline, QQ, WeChat.

    Digit runs that only look like personal data (an 18-digit order number with a wrong check
    digit, a card-length number that fails Luhn) are left alone. Pieces glued together with
    nothing between are found as `_glued_pieces` says.

    The spans found are a fixed point: the text with each of them replaced by its placeholder holds
    no more personal data, so that masking a masked text again changes nothing. A span can uncover
    another next to it, which its digits kept from matching ("11010519491231002X" followed by a
    Taiwan mobile: once the mobile is masked, the ID number ends before a non-digit); see `_rounds`.
    """
    return _rounds(text, model_text=False, snap=lambda match: match)


# A text that masking keeps uncovering more of after this many rounds is masked as a whole (`_rounds`).
_MAX_ROUNDS = 8


def _rounds(text: str, model_text: bool, snap: Callable[[PiiMatch], PiiMatch]) -> list[PiiMatch]:
    """The spans of `find_pii` (with `model_text`, those `prepare` and `normalise` mask), found
    round by round until a round finds nothing new; `snap` grows each span found (`prepare` grows
    it to whole characters of the text as written).

    A round scans `text` with the spans found so far walled off, as their placeholders would be.
    With `model_text`, a round that finds nothing there also scans the text the model reads
    (`_spaced`), where a span is a space, dropped beside Chinese: what stood on either side of
    it can meet there and make personal data that the placeholder kept apart ("QQ" + a mobile +
    "12345678" reads "QQ 12345678"; "幺三八一二" + an e-mail + "三四五六七八" a mobile in Chinese
    numerals), which is then masked as a whole, the spans inside it too.

    A text a person writes needs one round that finds and one that finds nothing more, a few more
    at most. A text that still gives something new after `_MAX_ROUNDS` holds a chain of personal
    data, each piece hiding the next, or was written to make the masking slow (each round scans
    the whole text): it is taken for personal data as a whole, of the kind of the first span found.
    """
    if not _PII_HINT.search(text):
        return []
    found: list[PiiMatch] = []
    for _ in range(_MAX_ROUNDS):
        # Past the first round the hint is not asked again: walls do not give one, placeholders do.
        more = [snap(match) for match in _scan(_walled(text, found)) if not _overlaps(match, found)]
        if not more and found and model_text:
            more = [snap(match) for match in _model_text_finds(text, found)]
            found = [match for match in found if not _overlaps(match, more)]
        if not more:
            return found
        found = _joined(sorted(found + more, key=lambda item: item.start))
    return [PiiMatch(found[0].kind, 0, len(text))]


def _joined(spans: list[PiiMatch]) -> list[PiiMatch]:
    """`spans` (in order) with those that overlap made one, of the kind of the first."""
    joined: list[PiiMatch] = []
    for match in spans:
        if joined and match.start < joined[-1].end:
            joined[-1] = PiiMatch(joined[-1].kind, joined[-1].start, max(joined[-1].end, match.end))
        else:
            joined.append(match)
    return joined


def _model_text_finds(text: str, found: list[PiiMatch]) -> list[PiiMatch]:
    """What `_scan` finds in the text the model reads, each span of `found` a space, in offsets of
    `text`: a span found there covers the whole of each span of `found` whose space it holds."""
    spaced, origin = _spaced(text, [(index, index + 1) for index in range(len(text))], found)
    more = _scan(spaced)
    return [PiiMatch(match.kind, origin[match.start][0], origin[match.end - 1][1]) for match in more]


def _walled(text: str, found: list[PiiMatch]) -> str:
    """`text` with each span of `found` (in order, none shorter than "[QQ]") replaced, character
    for character, by what a placeholder shows at its edges, "[" and "]", and NULs between, which
    no pattern matches: the offsets stay those of `text`."""
    if not found:
        return text
    pieces: list[str] = []
    cursor = 0
    for match in found:
        pieces.append(text[cursor : match.start])
        pieces.append("[" + "\0" * (match.end - match.start - 2) + "]")
        cursor = match.end
    pieces.append(text[cursor:])
    return "".join(pieces)


def _overlaps(match: PiiMatch, found: list[PiiMatch]) -> bool:
    return any(match.start < other.end and other.start < match.end for other in found)


def _scan(text: str) -> list[PiiMatch]:
    """One pass of the patterns over `text`: the personal data found, no two spans overlapping."""
    found: list[PiiMatch] = []
    taken = [False] * len(text)

    def claim(kind: str, start: int, end: int) -> bool:
        if any(taken[start:end]):
            return False
        found.append(PiiMatch(kind, start, end))
        for index in range(start, end):
            taken[index] = True
        return True

    def claim_landline(start: int, end: int) -> None:
        spans = _with_alternatives(text, start, end)
        # the number without its short alternatives when something else took them ("/5@qq.com")
        if claim("landline", *spans[0]) or claim("landline", start, end):
            for alternative in spans[1:]:
                claim("landline", *alternative)

    for match in _PLACEHOLDER.finditer(text):
        claim(_PLACEHOLDER_KINDS[match.group()], match.start(), match.end())
    previous_end = 0
    for match in _EMAIL_DOMAIN.finditer(text):
        at = match.start()
        run = _EMAIL_RUN.search(text, max(previous_end, at - _EMAIL_LOCAL_MAX), at)
        if run:
            claim("email", at - len(_email_local_part(run.group())), match.end())
            previous_end = match.end()
    for match in _GLUED_RUN.finditer(text):
        for kind, start, end in _glued_pieces(match.group()):
            claim(kind, match.start() + start, match.start() + end)
    for kind, start, end in _glued_phones(text):
        if kind == "landline":
            claim_landline(start, end)
        else:
            claim(kind, start, end)
    for match in _ID_CARD.finditer(text):
        if is_valid_id_card(re.sub(r"[ \-]", "", match.group(1))):
            claim("id_card", *match.span(1))
    for match in _OLD_ID_CARD.finditer(text):
        if is_valid_old_id_card(match.group()):
            claim("id_card", match.start(), match.end())

    @lru_cache(maxsize=1)
    def phones() -> tuple[list[int], list[int]]:
        spans = [match.span() for pattern in (_MOBILE, _ABROAD) for match in pattern.finditer(text)]
        for match in _LANDLINE.finditer(text):
            spans.extend(_with_alternatives(text, *match.span()))
        return _union(spans)

    for match in _BANK_CARD.finditer(text):
        for start, end in _bank_card_spans(text, match.start(), match.end(), phones):
            claim("bank_card", start, end)
    for match in _MOBILE.finditer(text):
        # with its short alternatives ("13812345678/9"), unless something else took them
        claim("mobile", match.start(), _past_suffixes(text, match.end())) or claim("mobile", *match.span())
    for match in _ABROAD.finditer(text):
        claim("landline", match.start(), match.end())
    for match in _LANDLINE.finditer(text):
        start, end = match.span()
        taken_at = next((index for index in range(start, end) if taken[index]), None)
        if taken_at is not None:  # its extension runs into an e-mail ("转123@qq.com"): the number up to it
            shorter = _LANDLINE.match(text, start, taken_at)
            start, end = shorter.span() if shorter else (start, start)
        if end > start:
            claim_landline(start, end)
    for match in _LOCAL_AFTER_WORD.finditer(text):
        if not _is_date(re.sub(r"[^0-9]", "", match.group("number"))):
            claim_landline(match.start("number"), match.end())
    for pattern in _CHINESE_PHONES:
        for match in pattern.finditer(text):
            if read_as := _chinese_phone(match.group()):
                claim(read_as, match.start(), match.end())
    for match in _QQ.finditer(text):
        claim("qq", *match.span(1))
    for match in _WECHAT.finditer(text):
        if match.group(1) or match.group(2) or _ID_MARK.search(match.group(3)):
            claim("wechat", *match.span(3))
    return found


@lru_cache(maxsize=1)
def _converter() -> opencc.OpenCC:
    return opencc.OpenCC("t2s")


# Emoji, pictographs, symbols, control and format characters carry no complaint content.
# Control characters that are whitespace (\x0b \x0c \x1c-\x1f \x85) are not dropped but folded
# into a space like any other whitespace, in `normalise` and `prepare` alike. The combining marks
# for symbols (U+20D0-U+20FF) go too: a keycap emoji is a digit, U+FE0F and U+20E3, and a phone
# number written in them ("1️⃣3️⃣8️⃣…") is then digits the masking finds; `_past_marks` takes those
# after its last digit along with it.
_SYMBOL_MARKS = "\ufe00-\ufe0f\u20d0-\u20ff"
_DROPPED = re.compile(
    "[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064"
    f"\ufeff{_SYMBOL_MARKS}\u2190-\u2bff\ue000-\uf8ff\ud800-\udfff"
    "\U0001f000-\U0001faff\U000e0000-\U000e007f]"
)


_SURROGATE = re.compile("[\ud800-\udfff]")
# Control characters that separate (vertical tab, as Word writes a line break; form feed; the
# information separators; next line) become a space, as the model's normalisation reads them, so
# that "数量2\x0b13812345678" keeps its phone number apart; the others (NUL, which breaks database
# encodings, terminal escapes, bells) are nothing a person wrote and go, as do the bidirectional
# embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069), which a Chinese complaint never
# needs and which would reverse how the rest of a line is shown ("Trojan Source" spoofing of a name).
_SEPARATING_CONTROL = re.compile("[\x0b\x0c\x1c-\x1f\x85]")
_CONTROL = re.compile("[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f\u202a-\u202e\u2066-\u2069]")


def clean_text(value: str) -> str:
    """Remove control characters (tab and line breaks stay, separating ones become a space) and
    replace lone surrogates (which break database encodings and UTF-8 output): what the service
    stores of a text, and what `triage predict` writes."""
    return _SURROGATE.sub("\ufffd", _CONTROL.sub("", _SEPARATING_CONTROL.sub(" ", value)))


def without_surrogates(value: str) -> str:
    """Lone surrogates (which no encoding can write) replaced, one character for one: offsets
    into the result are offsets into the text as submitted."""
    return _SURROGATE.sub("\ufffd", value)


# Digits not written as digits: circled (①), parenthesised (⑴), with a full stop (⒈), superscript
# (¹), fractions (½). NFKC would turn a list marker into a digit glued to the number after it
# ("①13812345678" → "113812345678"), which then is no phone number to the masking: they become
# a space instead, before NFKC. They all lie in the first two planes (tests/test_text.py checks
# the whole range): scanning only those keeps 70 ms off every start-up.
NUMBER_SIGN_PLANES = 0x20000


def is_number_sign(char: str) -> bool:
    """A digit that is not written as a digit: "other number" that NFKC turns into digits."""
    return unicodedata.category(char) == "No" and any(c.isdigit() for c in unicodedata.normalize("NFKC", char))


_OTHER_DIGIT = re.compile(r"[^\D0-9]")
_NUMBER_SIGNS = re.compile(
    "[" + "".join(re.escape(char) for char in map(chr, range(NUMBER_SIGN_PLANES)) if is_number_sign(char)) + "]"
)


@dataclass(frozen=True)
class PreparedText:
    """The text a classifier sees, and where each of its characters came from.

    `origin[i]` is the [start, end) span of the original text that produced character `i` of
    `text`; the space that stands for a masked span in `text` maps to that whole span.
    `pii` holds the masked spans in original-text offsets.
    """

    original: str
    text: str
    origin: tuple[tuple[int, int], ...]
    pii: tuple[PiiMatch, ...]

    def original_span(self, start: int, end: int) -> tuple[int, int]:
        """Span of the original text behind `text[start:end]`."""
        return self.origin[start][0], self.origin[end - 1][1]

    def masked_original(self) -> str:
        """The original text with every personal-data span replaced by its placeholder."""
        pieces: list[str] = []
        cursor = 0
        for match in self.pii:
            pieces.append(self.original[cursor : match.start])
            pieces.append(PLACEHOLDERS[match.kind])
            cursor = match.end
        pieces.append(self.original[cursor:])
        return "".join(pieces)

    def masked_span(self, start: int, end: int) -> tuple[int, int]:
        """Span in `masked_original()` of the original-text span [start, end)."""
        shift_start = shift_end = 0
        for match in self.pii:
            delta = len(PLACEHOLDERS[match.kind]) - (match.end - match.start)
            if match.end <= start:
                shift_start += delta
            if match.end <= end:
                shift_end += delta
        return start + shift_start, end + shift_end


def _clusters(text: str) -> list[tuple[int, int]]:
    """[start, end) of each character with what NFKC composes it with: the combining marks after
    it, and Hangul vowel and final jamo (U+1160-U+11FF) after a leading one."""
    spans: list[tuple[int, int]] = []
    for index, char in enumerate(text):
        if spans and (unicodedata.combining(char) or "\u1160" <= char <= "\u11ff"):
            spans[-1] = (spans[-1][0], index + 1)
        else:
            spans.append((index, index + 1))
    return spans


def _ascii_digits(text: str) -> str:
    """`text` with every decimal digit (Unicode category Nd, what `\\d` matches) an ASCII one:
    NFKC folds the full-width and mathematical digits but leaves those of other scripts
    (Arabic-Indic ١٣٩, Extended Arabic-Indic ۱۳۹, Devanagari १३९, Bengali, Thai...), and a phone
    number written in them would be no number to the masking. One character for one: offsets stay."""
    if not _OTHER_DIGIT.search(text):
        return text
    return text.translate({ord(char): str(unicodedata.decimal(char)) for char in set(_OTHER_DIGIT.findall(text))})


def _fold(text: str) -> tuple[str, list[tuple[int, int]]]:
    """Digits to ASCII, NFKC, traditional → simplified, emoji/control removal and whitespace
    folding, tracked."""
    text = _ascii_digits(text)
    chars: list[str] = []
    origin: list[tuple[int, int]] = []
    previous_space = True
    for start, end in _clusters(text):
        for char in unicodedata.normalize("NFKC", _NUMBER_SIGNS.sub(" ", text[start:end])):
            if char.isspace():
                if previous_space:
                    continue
                char = " "
                previous_space = True
            elif _DROPPED.match(char):
                continue
            else:
                previous_space = False
            chars.append(char)
            origin.append((start, end))
    folded, origin = _without_layout_spaces("".join(chars), origin)
    simplified = _converter().convert(folded)
    if len(simplified) != len(folded):
        # OpenCC converted a phrase to one of another length: convert character by character so
        # that the map stays exact.
        simplified = "".join(_converter().convert(char) or char for char in folded)
        if len(simplified) != len(folded):
            simplified = folded
    return simplified, origin


def _without_layout_spaces(text: str, origin: list[tuple[int, int]]) -> tuple[str, list[tuple[int, int]]]:
    """`text` without its layout spaces (`_LAYOUT_SPACE`), and the origins of what is left."""
    dropped = {index for match in _LAYOUT_SPACE.finditer(text) for index in range(match.start(), match.end())}
    if not dropped:
        return text, origin
    kept = [index for index in range(len(text)) if index not in dropped]
    return "".join(text[index] for index in kept), [origin[index] for index in kept]


_MARKS_RUN = re.compile(f"[{_SYMBOL_MARKS}]*")


def _past_marks(text: str, end: int) -> int:
    """`end` moved past the variation selectors and symbol marks (a keycap's U+FE0F U+20E3) there."""
    run = _MARKS_RUN.match(text, end)
    return run.end() if run else end


def _spaced(text: str, origin: list[tuple[int, int]], pii: list[PiiMatch]) -> tuple[str, list[tuple[int, int]]]:
    """`text` with each span of `pii` a space, then without its layout spaces: what the model
    reads; and for each of its characters, its `origin`, the whole span's for a span's space."""
    chars: list[str] = []
    new_origin: list[tuple[int, int]] = []
    cursor = 0
    for match in pii:
        chars.append(text[cursor : match.start])
        new_origin.extend(origin[cursor : match.start])
        chars.append(" ")
        new_origin.append((origin[match.start][0], origin[match.end - 1][1]))
        cursor = match.end
    chars.append(text[cursor:])
    new_origin.extend(origin[cursor:])
    return _without_layout_spaces("".join(chars), new_origin)


def _whole_characters(match: PiiMatch, text: str, origin: list[tuple[int, int]]) -> PiiMatch:
    """`match`, a span of the folded text that `origin` maps back to `text`, grown to whole
    characters of `text`: over what NFKC made of the same one as its first or last character
    ("㏧" is "8日"), and over what comes of the marks after it (`_past_marks`: a combining mark
    on a keycap's U+FE0F), which masking the text as written replaces with it. Otherwise the text
    the model reads would keep what the masked text does not, and a second masking could find
    other personal data there."""
    start, end = match.start, match.end
    while start > 0 and origin[start - 1] == origin[start]:
        start -= 1
    last = _past_marks(text, origin[end - 1][1])
    while end < len(origin) and origin[end][0] < last:
        end += 1
    return PiiMatch(match.kind, start, end)


def prepare(text: str) -> PreparedText:
    """Normalise and mask a text, keeping the map back to the original characters.

    Personal data becomes a placeholder in the masked text (`masked_original`) but leaves no
    trace in the classifier's text (`text`): a phone number or an e-mail address says nothing
    about the complaint, so it is a separating space there, like any space, dropped beside Chinese.
    """
    folded, origin = _fold(text)
    pii = _rounds(folded, model_text=True, snap=lambda match: _whole_characters(match, text, origin))
    if not pii:
        return PreparedText(text, folded, tuple(origin), ())
    for match in pii:
        # the marks of a keycap digit ("8️⃣": 8, U+FE0F, U+20E3), dropped from `folded`, go with the last one
        last_start, last_end = origin[match.end - 1]
        origin[match.end - 1] = (last_start, _past_marks(text, last_end))
    masked, masked_origin = _spaced(folded, origin, pii)
    original_pii = tuple(PiiMatch(match.kind, origin[match.start][0], origin[match.end - 1][1]) for match in pii)
    return PreparedText(text, masked, tuple(masked_origin), original_pii)


def normalise(text: str) -> str:
    """Normalised, masked text for the classifier: the `text` of `prepare`, computed faster."""
    return normalise_prepared(text)[0]


def normalise_prepared(text: str) -> tuple[str, PreparedText | None]:
    """`normalise(text)`, and the `prepare(text)` it took when the text holds personal data (or
    changes length in OpenCC); None when it did not, and then `mask_pii` leaves the text as it is."""
    folded = unicodedata.normalize("NFKC", _NUMBER_SIGNS.sub(" ", _ascii_digits(text)))
    folded = _LAYOUT_SPACE.sub("", _WHITESPACE.sub(" ", _DROPPED.sub("", folded)))
    simplified = str(_converter().convert(folded))
    # A text with personal data goes through `prepare`, as one OpenCC changes in length does: what
    # is masked grows to whole characters as written (`_whole_characters`), which takes its map.
    if len(simplified) != len(folded) or (_PII_HINT.search(simplified) and _scan(simplified)):
        prepared = prepare(text)
        return prepared.text, prepared
    return simplified, None


def mask_pii(text: str) -> str:
    """The text as written, with phone, ID-card, bank-card numbers and e-mails replaced."""
    return prepare(text).masked_original()


def mask_optional(text: str | None) -> str | None:
    """`mask_pii` of a text that may be missing (None and "" are returned as they are)."""
    return mask_pii(text) if text else text
