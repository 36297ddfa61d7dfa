"""Normalisation, PII masking and the offset map back to the original text."""

from __future__ import annotations

import random
import sys
import unicodedata

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from model.text import (
    NUMBER_SIGN_PLANES,
    find_pii,
    is_luhn_valid,
    is_number_sign,
    is_valid_id_card,
    mask_pii,
    normalise,
    prepare,
)

VALID_ID = "11010519491231002X"  # the check digit of the published example number
VALID_CARD = "6222021234567890128"  # 19 digits, UnionPay prefix, Luhn-valid
OTHER_ID = "440304199003070026"  # a second valid ID number, its check digit a digit
MOBILE = "13912345678"


def test_full_width_letters_digits_and_punctuation_become_half_width() -> None:
    assert normalise("ＡＢＣ１２３，！") == "ABC123,!"


def test_traditional_chinese_becomes_simplified() -> None:
    assert normalise("客戶投訴處理與滿意度調查") == "客户投诉处理与满意度调查"


def test_mixed_traditional_and_simplified_text_is_all_simplified() -> None:
    assert normalise("快遞員態度差，快递员还骂人") == "快递员态度差,快递员还骂人"


def test_spaces_beside_chinese_are_layout_and_dropped_others_fold_to_one() -> None:
    assert normalise("  手机\t\t坏了\n\n  屏幕  黑 ") == "手机坏了屏幕黑"
    assert normalise("iPhone  15\tPro 屏幕碎了") == "iPhone 15 Pro屏幕碎了"
    # a wrapped line, a space after each comma, an ideographic space: the text the model reads is
    # the same as written in one line
    one_line = "快递寄了一周，还没到！客服也不回复。"
    layouts = (
        "快递寄了一周，\n还没到！\r\n客服也不回复。",
        "快递寄了一周， 还没到！ 客服也不回复。",
        "快递寄了\n一周，还没\u3000到！客服也不回复。",
    )
    for layout in layouts:
        assert normalise(layout) == normalise(one_line)


def test_emoji_and_control_characters_are_dropped() -> None:
    assert normalise("太差了😡😡\x00\x07👎🏻 退钱\u200b") == "太差了退钱"


def test_only_emoji_normalises_to_empty() -> None:
    assert normalise("😡😡😡👎") == ""


@pytest.mark.parametrize(
    ("text", "placeholder"),
    [
        ("我的手机13812345678打不通", "[PHONE]"),
        ("电话 +86 138-1234-5678 找我", "[PHONE]"),
        ("座机010-62345678", "[PHONE]"),
        ("座机(021)51234567转123", "[PHONE]"),
        ("座机(021)51234567转123@qq.com", "[PHONE]"),  # the extension runs into an e-mail: the number still goes
        (f"身份证{VALID_ID}", "[IDCARD]"),
        (f"卡号{VALID_CARD}被盗刷", "[BANKCARD]"),
        ("卡号 6222 0212 3456 7890 128 被盗刷", "[BANKCARD]"),
        ("邮箱 zhang.san@example.com 联系", "[EMAIL]"),
        ("手機１３８１２３４５６７８", "[PHONE]"),
        ("Tel13812345678 VX同号", "[PHONE]"),  # a letter before the number does not hide it
        (f"ID{VALID_ID}", "[IDCARD]"),
        ("身份证 110105 19491231 002X", "[IDCARD]"),  # written in groups
        ("138 1234 5678 110105 19491231 002X", "[IDCARD]"),  # after other groups of digits
        (f"身份证{VALID_ID[:14]}\x0b{VALID_ID[14:]}", "[IDCARD]"),  # a vertical tab inside
        (f"卡号{VALID_CARD} 100元被扣了", "[BANKCARD]"),  # the amount after it is not part of it
        (f"扣了100 {VALID_CARD}这张卡", "[BANKCARD]"),
        # list markers NFKC turns into digits do not glue onto the number after them
        ("联系方式：①13812345678", "[PHONE]"),
        ("电话1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣找我", "[PHONE]"),  # keycap emoji: digit, U+FE0F, U+20E3
        ("电话¹13812345678", "[PHONE]"),
        (f"身份证⑴{VALID_ID}", "[IDCARD]"),
        # numbers in groups of three, with no run of four digits anywhere in the text
        ("卡号622 202 123 456 789 012 8被扣", "[BANKCARD]"),
        ("身份证110 105 194 912 310 02X", "[IDCARD]"),
        # landlines: local number in two groups, country code without the area code's 0, extension
        ("座机021-6888 8888", "[PHONE]"),
        ("打010 6234 5678", "[PHONE]"),
        ("+86-10-62345678", "[PHONE]"),
        ("0086-755-23456789", "[PHONE]"),
        ("分机010-62345678-123找我", "[PHONE]"),
        ("0086 13812345678", "[PHONE]"),
        ("聯絡電話：0912-345-678", "[PHONE]"),  # a Taiwan mobile
        # Hong Kong and Macau numbers, Taiwan landlines, told by their country code
        ("香港手機+852 9123 4567", "[PHONE]"),
        ("电话852-61234567", "[PHONE]"),
        ("澳门电话(853) 2812 3456", "[PHONE]"),
        ("台北電話+886-2-2712-3456", "[PHONE]"),
        # Taiwan landlines without the country code: the area code with its 0, in parentheses or
        # set apart from the local number
        ("台北電話(02)2712-3456", "[PHONE]"),
        ("電話02-2712-3456找我", "[PHONE]"),
        ("台中門市04-2345-6789", "[PHONE]"),
        ("高雄(07)345-6789轉12", "[PHONE]"),
        ("南投(049)234-5678", "[PHONE]"),
        ("臺東(089)326-141", "[PHONE]"),  # six digits after 089
        ("卡号378282246310005", "[BANKCARD]"),  # American Express, 15 digits
        # a letter right after the number (vx = WeChat), dots, long dashes, spaced dashes
        ("13912345678vx同号", "[PHONE]"),
        ("电话139.1234.5678", "[PHONE]"),
        ("电话139—1234—5678", "[PHONE]"),
        ("电话139 - 1234 - 5678", "[PHONE]"),
        # a mainland mobile in groups of 4-3-4 or 3-3-5, or 3-8
        ("手机1381 234 5678", "[PHONE]"),
        ("手机1381-234-5678", "[PHONE]"),
        ("手机138 123 45678", "[PHONE]"),
        ("手机138-12345678", "[PHONE]"),
        ("手机1381-2345678", "[PHONE]"),  # 4-7 with a dash, as with a space
        ("电话+86 1381 234 5678找我", "[PHONE]"),
        # ... or cut in two elsewhere by a line break, three digits at least on either side
        ("电话13812\n345678找我", "[PHONE]"),
        ("电话13812345\r\n678", "[PHONE]"),
        ("老身份证110105491231002", "[IDCARD]"),  # first generation: 15 digits, born 1949-12-31
        ("导出的文本：电话[PHONE]，邮箱[EMAIL]", "[PHONE]"),  # an already masked text read again
        # said aloud and noted in Chinese numerals (幺 = 1), maybe in groups or mixed with digits
        ("电话幺三八一二三四五六七八找我", "[PHONE]"),
        ("手机一三八-一二三四-五六七八", "[PHONE]"),
        ("手机138一二三四五六七八", "[PHONE]"),
        # ... and landlines with their area code's 0
        ("座机〇一〇六二三四五六七八", "[PHONE]"),
        ("座机零七五五-八六零零一二三四", "[PHONE]"),
        ("電話〇七三四五六七八九", "[PHONE]"),  # Taiwan: 07 and seven digits
        # QQ numbers and WeChat ids, told by the word before them
        ("加我QQ：12345678谢谢", "[QQ]"),
        ("qq号码是 1234567890", "[QQ]"),
        ("加我vx abc_123456", "[WECHAT]"),
        ("微信号是wxid_abcdefg", "[WECHAT]"),
        ("客服微信账号:Zhang5678】", "[WECHAT]"),
    ],
)
def test_each_kind_of_personal_data_is_masked(text: str, placeholder: str) -> None:
    masked = mask_pii(text)
    assert placeholder in masked
    # the model reads neither the number nor its placeholder: personal data is no evidence
    assert placeholder not in normalise(text) and find_pii(normalise(text)) == []
    for digits in ("13812345678", "62345678", VALID_ID, VALID_CARD, "zhang.san", "19491231", "8888", "5678", "345"):
        assert digits not in masked


@pytest.mark.parametrize(
    "text",
    [
        "订单号123456789012345678一直没发货",  # 18 digits, not a valid ID card
        "订单号 6222021234567890121 查不到",  # card-like but fails Luhn
        "运单号SF1234567890123，还没到",
        "价格12345678元太贵",  # 8 digits that do not start like a phone number
        "2026-10-31 买的",
        "型号iPhone15 Pro Max 256G",
        "工号@客服小王",
        "订单号0123456789",  # no area code starts 01 but 010
        "订单号85291234567",  # 852 and eight digits, but no + or separator says it is a country code
        "编号 0012345678",
        "第⑩条写着7天无理由",
        "一二三四五六七八九十分都不给",  # numerals that are no mobile number
        "三八一二三四五六七八九",  # eleven, but not a mobile's shape
        "QQ10元礼券没到账",  # too short for a QQ number
        "微信Android版闪退",  # a word, not an id: no digit and no 微信号
        "微信小程序IRR计算器算错了",
        "一三八一二三四五六七八九零",  # twelve
        "编号〇一〇六二三四五",  # too short for a landline
        "二〇二六一二〇七一二三",  # no area code's 0 first
        "〇〇〇〇〇〇〇〇〇〇",
        # a date's month or day, or a time's minutes, before digits in a Taiwan landline's shape
        "2026-12-07 2345-6789號訂單",
        "2026/12/07 345-6789",
        "10:05 2345 6789",
        "版本3.02 2712 3456",
        "電話03-1234567",  # no local number begins with 1
        # groups of a mobile's shape, one digit short or over
        "编号138 123 4567",
        "编号1381-234-567",
        "规格1381 234 56789",
        "订单号1381-2345678元",  # an amount after it
        "数量13-812345678",
        # a count of one or two digits before a line break, or after it, is no part of a mobile
        "数量13\n812345678",
        "数量1\n3812345678",
        "订单1381234567\n12件",
        "编号13812\n3456789",
        "单号13812345\n100元",  # an amount on the next line
        "单号13812\n345678kg",
        "单号1381\n2345678元",
    ],
)
def test_text_that_only_looks_like_personal_data_is_kept(text: str) -> None:
    assert mask_pii(text) == text
    assert find_pii(normalise(text)) == []


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("邮箱：张三@example.com，请回复", "邮箱：[EMAIL]，请回复"),
        ("我的邮箱是王小明2026@163.com。", "我的邮箱是[EMAIL]。"),  # the word that introduces it stays
        ("客户李娜@qq.com反映", "[EMAIL]反映"),  # no such word: the whole run, rather than a leak
        ("联系abc@qq.com", "联系[EMAIL]"),  # an ASCII local part is taken alone, as always
        # a second address after the first with no space or punctuation between them
        ("邮箱a@qq.com或者zhangsan@163.com都行", "邮箱[EMAIL]或者[EMAIL]都行"),
        ("邮箱abc@qq.com和李四@163.com", "邮箱[EMAIL][EMAIL]"),
        # the domain's dot typed as the Chinese full stop, which NFKC keeps; the sentence's own stays
        ("邮箱zhang.san@qq。com。谢谢", "邮箱[EMAIL]。谢谢"),
    ],
)
def test_e_mail_addresses_with_chinese_local_parts_are_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    assert "@" not in normalise(text)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("手机13912345678 幺三八一二三四五六七八都行", "手机[PHONE] [PHONE]都行"),
        ("订单123 幺三八一二三四五六七八是我电话", "订单123 [PHONE]是我电话"),
        (f"电话一三八一二三四五六七八 {VALID_CARD}", "电话[PHONE] [BANKCARD]"),
        ("座机〇一〇六二三四五六七八 9号楼", "座机[PHONE] 9号楼"),
    ],
)
def test_a_phone_number_in_chinese_numerals_beside_a_number_in_digits_is_masked(text: str, masked: str) -> None:
    # The space between them is beside a Chinese character, layout that normalisation drops
    # before the masking reads the text: the numerals then touch the digits.
    assert mask_pii(text) == masked
    assert find_pii(normalise(text)) == []


def test_id_card_check_digit_and_birth_date_are_verified() -> None:
    assert is_valid_id_card(VALID_ID)
    assert not is_valid_id_card("110105194912310021")  # wrong check digit
    assert not is_valid_id_card("110105194913310028")  # month 13


def test_luhn() -> None:
    assert is_luhn_valid(VALID_CARD)
    assert not is_luhn_valid(VALID_CARD[:-1] + "1")


def test_personal_data_leaves_no_trace_in_the_text_the_model_reads() -> None:
    without = normalise("我的电话，快递一周没到")
    for number in ("13812345678", "139 1234 5678", "010-62345678", "a@b.cn", "[PHONE]", VALID_ID):
        assert normalise(f"我的电话{number}，快递一周没到") == without
        assert normalise(f"我的电话 {number} ，快递一周没到") == without


def test_masked_text_keeps_the_rest_of_the_original_as_written() -> None:
    text = "客戶來電：電話13812345678，ＡＢＣ訂單"
    assert mask_pii(text) == "客戶來電：電話[PHONE]，ＡＢＣ訂單"
    # a number in keycap emoji: the marks of its last digit go with it, an emoji after it stays
    assert mask_pii("电话1️⃣3️⃣8️⃣1️⃣2️⃣3️⃣4️⃣5️⃣6️⃣7️⃣8️⃣😊找我") == "电话[PHONE]😊找我"


def test_prepare_text_equals_fast_normalise_on_varied_input() -> None:
    texts = [
        "客戶投訴 😀 電話 010-62345678，ＡＢＣ",
        f"身份证{VALID_ID}，邮箱a@b.cn\t\t好",
        "  \x00只有控制字符\x1f  ",
        "ﬁ ligature and café",
    ]
    for text in texts:
        assert prepare(text).text == normalise(text)


def test_offsets_map_normalised_characters_back_to_the_original() -> None:
    text = "客戶說：手機１３８１２３４５６７８壞了😡"
    prepared = prepare(text)
    start = prepared.text.index("坏了")
    original_start, original_end = prepared.original_span(start, start + 2)
    assert text[original_start:original_end] == "壞了"
    masked = prepared.masked_original()
    masked_start, masked_end = prepared.masked_span(original_start, original_end)
    assert masked[masked_start:masked_end] == "壞了"


# Characters that the two paths could treat differently: whitespace controls, combining marks,
# full-width and traditional forms, emoji, zero-width characters; and whole PII items, each set
# off by a separator (glued to digits or letters, an item is by design not personal data).
_FILLER = list("0123456789１３８ \t\n\x0b\x0c\x1c\x1f\x85\u3000\u00a0-@.+()转Xx") + [
    "\u0301",
    "\u1100",  # Hangul jamo: NFKC composes ᄀ ᅡ ᆨ into 각
    "\u1161",
    "\u11a8",
    "\u0308",
    "e",
    "a",
    "Z",
    "😡",
    "\u200b",
    "\ufe0f",
    "客",
    "戶",
    "退",
    "款",
    "三",
    "幺",
    "，",
    "：",
]
_SEPARATORS = [" ", "，", "：", "\x0b", "\u3000"]
_ITEMS = [
    "13812345678",
    "+86 138-1234-5678",
    "010-62345678",
    VALID_ID,
    "110105 19491231 002X",
    VALID_CARD,
    "a@b.cn",
    "幺三八一二三四五六七八",
    "张三@example.com",
    "QQ 12345678",
    "微信号:abc_12345",
    "(02)2712-3456",
    "1381 234 5678",
]
_PIECES = st.one_of(
    st.sampled_from(_FILLER),
    st.builds(
        lambda before, item, after: before + item + after,
        st.sampled_from(_SEPARATORS),
        st.sampled_from(_ITEMS),
        st.sampled_from(_SEPARATORS),
    ),
)


@settings(max_examples=400, deadline=None)
@given(st.lists(_PIECES, max_size=30))
def test_prepare_and_normalise_agree_and_the_masked_text_keeps_no_personal_data(pieces: list[str]) -> None:
    text = "".join(pieces)
    prepared = prepare(text)
    assert prepared.text == normalise(text)
    # What the model reads and what is stored and shown are masked alike.
    assert find_pii(normalise(prepared.masked_original())) == []


def test_long_digit_and_letter_runs_are_scanned_in_one_pass() -> None:
    # Quadratic back-tracking in the e-mail or card patterns would take minutes here.
    for text in (
        "1" * 100_000,
        "a" * 100_000 + "@",
        "a@" + "a." * 20_000,
        "1 " * 50_000,
        "一" * 100_000,
        "〇" * 100_000,
    ):
        assert find_pii(normalise(text)) == []
    # the shapes of Taiwan landlines, cut short
    for text in ("(02)" * 25_000, "(02)2712-" * 11_000, "(089)32" * 14_000):
        assert mask_pii(text) == text
    # and of mobiles in 4-3-4 and 3-3-5 groups or cut by a line break, each a digit short
    for text in ("1381 234 567 " * 7_700, "138 123 4567 " * 7_700, "1381-234-567 " * 7_700, "13812\n34567\n" * 8_400):
        assert mask_pii(text) == text
    assert mask_pii("张" * 100_000 + "@example.com") == "张" * (100_000 - 64) + "[EMAIL]"


def test_every_number_sign_lies_in_the_planes_scanned_at_start_up() -> None:
    beyond = [hex(code) for code in range(NUMBER_SIGN_PLANES, sys.maxunicode + 1) if is_number_sign(chr(code))]
    assert beyond == []
    assert is_number_sign("①") and is_number_sign("¹") and not is_number_sign("1") and not is_number_sign("１")


def _assert_masked_once_for_all(text: str) -> None:
    """Masking the masked text again changes nothing, the model reads no personal data, and the
    two normalisations agree."""
    masked = mask_pii(text)
    assert mask_pii(masked) == masked
    assert find_pii(normalise(text)) == []
    assert prepare(text).text == normalise(text)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        (f"身份证{VALID_ID}{OTHER_ID}两个人的", "身份证[IDCARD][IDCARD]两个人的"),
        (f"身份证{VALID_ID}{MOBILE}", "身份证[IDCARD][PHONE]"),
        (f"身份证{OTHER_ID}{MOBILE}", "身份证[IDCARD][PHONE]"),
        (f"电话{MOBILE}{VALID_ID}", "电话[PHONE][IDCARD]"),
        (f"电话{MOBILE}13812345678都打不通", "电话[PHONE][PHONE]都打不通"),
        ("电话１３９１２３４５６７８１３８１２３４５６７８", "电话[PHONE][PHONE]"),  # full-width
        (f"卡号{VALID_CARD}{MOBILE}", "卡号[BANKCARD][PHONE]"),
        (f"电话{MOBILE}{VALID_CARD}", "电话[PHONE][BANKCARD]"),
        (f"vx{MOBILE}{MOBILE}同号", "vx[PHONE][PHONE]同号"),
        # what each piece's neighbour hid: the Taiwan mobile after the check letter X is found first,
        # then the ID number before it, then the one before that
        (f"{VALID_ID}{VALID_ID}0912-345-678", "[IDCARD][IDCARD][PHONE]"),
        ("座机010-62345678(021)51234567", "座机[PHONE][PHONE]"),
        ("台北(02)2712-3456(02)2712-3457", "台北[PHONE][PHONE]"),
        # an area or country code in parentheses is set apart from a digit before it
        ("订单736(010)56232645", "订单736[PHONE]"),
        ("数量2(02)2712-3456", "数量2[PHONE]"),
        ("共2(852)9123 4567", "共2[PHONE]"),
        ("数量2\n13812345678", "数量2\n[PHONE]"),  # a count on the line before a mobile stays
        ("电话13812\n345678\n数量2", "电话[PHONE]\n数量2"),
        ("订单736(0105)6232645", "订单736(0105)6232645"),  # 0105 is no area code
        ("规格3(010)5623", "规格3(010)5623"),  # too short for a local number
    ],
)
def test_personal_data_glued_together_is_masked_in_one_pass(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    _assert_masked_once_for_all(text)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # glued: each number begins with its area code's 0 (or a mobile's 1) right after the one before
        ("010-6234567802162345678", "[PHONE][PHONE]"),
        ("电话010-62345678021-62345678转123找我", "电话[PHONE][PHONE]找我"),
        ("电话07558600123407558600123", "电话[PHONE][PHONE]"),  # local numbers of 8 then 7 digits
        (f"座机01062345678{MOBILE}", "座机[PHONE][PHONE]"),
        (f"电话{MOBILE}0755-86001234", "电话[PHONE][PHONE]"),
        # a run that does not split into them exactly is an order number: kept
        (
            "电话010-6234567802162345678，订单号02162345678021623456789",
            "电话[PHONE][PHONE]，订单号02162345678021623456789",
        ),
        # other numbers of the same exchange written after a landline without the area code
        ("电话0755-86001234/86001235", "电话[PHONE]/[PHONE]"),
        ("电话0755-86001234、8600 1235或86001236", "电话[PHONE]、[PHONE]或[PHONE]"),
        ("座机(021)51234567，51234568转802", "座机[PHONE]，[PHONE]"),
        ("+86-10-62345678 62345679找我", "[PHONE] [PHONE]找我"),
        ("010-62345678(021)51234567/51234568", "[PHONE][PHONE]/[PHONE]"),  # the second found in a round of its own
        # ... but a date or an amount after one is no number
        ("电话021-62345678/62345679，20261201下的单", "电话[PHONE]/[PHONE]，20261201下的单"),
        ("电话021-62345678、62345679，2000000元", "电话[PHONE]、[PHONE]，2000000元"),
        ("电话0755-86001234—86001235", "电话[PHONE]—[PHONE]"),  # an em dash, as a dash
        # a Taiwan landline takes its alternatives too, and a mainland area code stays one number
        ("電話(02)2712-3456/2712-3457", "電話[PHONE]/[PHONE]"),
        ("上海021-62345678，台北02-2712-3456，广州(020)38765432", "上海[PHONE]，台北[PHONE]，广州[PHONE]"),
        ("日期2026-12-07，電話(07)345-6789", "日期2026-12-07，電話[PHONE]"),
        # another number written as the digits it ends in, after a slash: masked with the number
        ("电话0755-86001234/5", "电话[PHONE]"),
        ("座机010-62345678/79找我", "座机[PHONE]找我"),
        ("电话0755-86001234/86001235/36/7", "电话[PHONE]/[PHONE]"),
        ("电话010-62345678/5@qq.com", "电话[PHONE]/[EMAIL]"),  # the digit is the address's
        ("手机13812345678/9都行", "手机[PHONE]都行"),  # a mobile's alternative too
        ("手机13812345678/9@qq.com", "手机[PHONE]/[EMAIL]"),
        ("手机13812345678/2份", "手机[PHONE]/2份"),
        ("电话1381 234 5678/9", "电话[PHONE]"),
        # ... but a fraction or a date is none, nor an amount after a landline
        ("比分3/5，电话010-62345678，12/5到货", "比分3/5，电话[PHONE]，12/5到货"),
        ("我在163。com上看到", "我在163。com上看到"),  # no @: no address
        ("电话010-62345678/5元", "电话[PHONE]/5元"),
        # ... nor an area code with its number after it
        ("座机020-9527035/0431 - 4672641", "座机[PHONE]/[PHONE]"),
        # ... nor a range with a dash inside, nor a count or an amount in another unit
        ("座机010-62345678，2025-2026年度会员费", "座机[PHONE]，2025-2026年度会员费"),
        ("电话010-62345678，2345678次，2345678kg", "电话[PHONE]，2345678次，2345678kg"),
        # a dash inside is a local number's (a range with no unit after it is masked: a leaked number
        # costs more), and a word after it that begins like a unit is no unit
        ("电话0755-86001234或8600-1235", "电话[PHONE]或[PHONE]"),
        ("电话010-62345678 3000-5000的预算", "电话[PHONE] [PHONE]的预算"),
        ("拨打010-62345678或62345679人工服务", "拨打[PHONE]或[PHONE]人工服务"),
        ("电话0755-86001234或86001235号码不通", "电话[PHONE]或[PHONE]号码不通"),
        # the ways of naming a phone before bare digits glued together
        ("手机号：1381234567802162345678，谢谢", "手机号：[PHONE][PHONE]，谢谢"),
        ("联系电话是0755862608304318759681", "联系电话是[PHONE][PHONE]"),
        ("打0102283050907557779351转801", "打[PHONE][PHONE]"),
        ("我的号码1749506150305717333497转281", "我的号码[PHONE][PHONE]"),  # the extension says it
        # what could be the extension of a chain's last number is the area code of the next chain
        ("电话0106234567802162345678-0431 282487313812345678", "电话[PHONE][PHONE]-[PHONE][PHONE]"),
        # a local number without its area code, after a word naming a phone
        ("电话86001234/35", "电话[PHONE]"),
        ("座机：6234 5678", "座机：[PHONE]"),
        ("联系电话62345678转801找我", "联系电话[PHONE]找我"),
        ("电话：8600-1234或8600 1235都行", "电话：[PHONE]或[PHONE]都行"),
        # ... but a count or a date there is none
        ("一天打2345678次", "一天打2345678次"),
        ("来电20261201的记录", "来电20261201的记录"),
        # bare digits glued: phones only after a word naming one (no check digit tells them apart)
        ("订单138123456780212345678没发货", "订单138123456780212345678没发货"),
        ("单号07558600123407558600123", "单号07558600123407558600123"),
    ],
)
def test_landlines_glued_together_or_written_as_alternatives_are_masked(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    _assert_masked_once_for_all(text)


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # the groups from the middle of the first number to the end of the second pass the Luhn check
        ("电话：021-3358 9146 0755-3363 4369", "电话：[PHONE] [PHONE]"),
        ("手机138 3488 9708 139 9934 7657都打不通", "手机[PHONE] [PHONE]都打不通"),
        ("电话021 6632 9405 139 8538 6167", "电话[PHONE] [PHONE]"),
        ("手机1381 234 5678 6222 0212 3456 7890 128", "手机[PHONE] [BANKCARD]"),
        # a card of its own beside a phone number is still one
        (f"手机{MOBILE} 6222 0212 3456 7890 128", "手机[PHONE] [BANKCARD]"),
        ("卡号6222 0212 3456 7890 128 021-6888 8888", "卡号[BANKCARD] [PHONE]"),
    ],
)
def test_phone_numbers_written_in_groups_make_no_card_number_across_them(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    _assert_masked_once_for_all(text)


@pytest.mark.parametrize(
    "text",
    [
        f"订单号123456789012345678{MOBILE}",  # 18 + 11 digits: the 18 are no ID number
        f"订单号{MOBILE}{MOBILE}1",  # a digit left over
        f"订单号{VALID_ID}12345678901",  # an ID number, then eleven digits that are no mobile
    ],
)
def test_a_digit_run_that_does_not_split_into_personal_data_is_kept(text: str) -> None:
    assert mask_pii(text) == text
    assert find_pii(normalise(text)) == []


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        # a space in the text the model reads joins what the placeholder keeps apart
        (f"QQ {MOBILE} 12345678", "QQ [PHONE] [QQ]"),
        ("电话幺三八一二a@b.cn三四五六七八", "电话[PHONE]"),
    ],
)
def test_what_meets_where_personal_data_was_taken_out_is_masked_too(text: str, masked: str) -> None:
    assert mask_pii(text) == masked
    _assert_masked_once_for_all(text)


@pytest.mark.parametrize(
    ("text", "masked", "normalised"),
    [
        # a combining mark or a Hangul vowel on the U+FE0F after the number is one character with it
        (f"电话{MOBILE}\ufe0f\u0301好", "电话[PHONE]好", "电话好"),
        (f"身份证{VALID_ID}\ufe0f\u1161好", "身份证[IDCARD]好", "身份证好"),
        # NFKC makes "8日" of one character: the model does not read half of what is masked
        ("电话1391234567\u33e7", "电话[PHONE]", "电话"),
    ],
)
def test_personal_data_is_masked_in_whole_characters_as_written(text: str, masked: str, normalised: str) -> None:
    assert mask_pii(text) == masked
    assert normalise(text) == normalised
    _assert_masked_once_for_all(text)


def test_a_long_run_of_glued_numbers_is_read_as_a_whole_once() -> None:
    # mobiles with a country code glued end to end (each but the last touches the next one's
    # digits): 100,000 characters scanned once, not once per number (0.4 s; the first version of
    # the glued landlines took 88 s, and masked none of them)
    text = "电话" + "0086 13812345678" * 6250
    assert mask_pii(text).count("[PHONE]") == 6250


def test_a_chain_of_personal_data_each_piece_hiding_the_next_is_masked_as_a_whole() -> None:
    # each ID number in groups but the last touches the next one's first digit with its check
    # letter, and is found only once the one after it is masked: past a few rounds, the text is
    # masked as a whole rather than scanned again for every number
    grouped = f"{VALID_ID[:6]}-{VALID_ID[6:14]}-{VALID_ID[14:]}"
    assert mask_pii(grouped * 3) == "[IDCARD]" * 3
    text = grouped * 380
    assert mask_pii(text) == "[IDCARD]"
    assert normalise(text) == ""


def test_masking_is_a_fixed_point_on_random_glued_text() -> None:
    rng = random.Random(20261207)
    pieces = [
        *"0123456789Xx",
        *"abqQ",
        *"客户退款三八幺",
        MOBILE,
        VALID_ID,
        OTHER_ID,
        VALID_CARD,
        "0912-345-678",
        "(021)51234567",
        "+86010-62345678",
        "QQ",
        "a@b.cn",
        "幺三八一二三四五六七八",
        "〇一〇六二三四五六七八",
    ]
    for _ in range(400):
        _assert_masked_once_for_all("".join(rng.choice(pieces) for _ in range(rng.randint(1, 12))))


@pytest.mark.parametrize(
    "digits",
    [
        "١٣٩١٢٣٤٥٦٧٨",  # Arabic-Indic
        "۱۳۹۱۲۳۴۵۶۷۸",  # Extended Arabic-Indic
        "१३९१२३४५६७८",  # Devanagari
        "১৩৯১২৩৪৫৬৭৮",  # Bengali
        "๑๓๙๑๒๓๔๕๖๗๘",  # Thai
        "၁၃၉၁၂၃၄၅၆၇၈",  # Myanmar
        "139١٢٣٤٥٦٧٨",  # mixed with ASCII digits
    ],
)
def test_a_mobile_in_the_digits_of_another_script_is_masked(digits: str) -> None:
    text = f"电话{digits}找我"
    prepared = prepare(text)
    assert prepared.masked_original() == "电话[PHONE]找我"
    assert [text[match.start : match.end] for match in prepared.pii] == [digits]
    assert normalise(text) == prepared.text == "电话找我"
    _assert_masked_once_for_all(text)


def test_every_decimal_digit_reads_as_its_ascii_digit() -> None:
    digits = [chr(code) for code in range(sys.maxunicode + 1) if unicodedata.category(chr(code)) == "Nd"]
    assert len(digits) > 600
    assert [normalise(digit) for digit in digits] == [str(unicodedata.decimal(digit)) for digit in digits]


def test_offsets_of_glued_pieces_and_other_digits_point_at_the_original_characters() -> None:
    text = f"客戶：{VALID_ID}{MOBILE}，電話٠٩١٢-٣٤٥-٦٧٨壞了"
    prepared = prepare(text)
    assert [text[match.start : match.end] for match in prepared.pii] == [VALID_ID, MOBILE, "٠٩١٢-٣٤٥-٦٧٨"]
    assert prepared.masked_original() == "客戶：[IDCARD][PHONE]，電話[PHONE]壞了"
    start = prepared.text.index("坏了")
    assert text[slice(*prepared.original_span(start, start + 2))] == "壞了"
