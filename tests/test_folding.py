"""The text keys the lead table searches and sorts by.

`fold` makes a name comparable the way Vietnamese users type it (no accents,
no case); `website_key` makes a web address comparable the way people type it
(no scheme, no `www.`, no trailing slash). Both sides of a search go through
them, so these tables are what "`nguyen` finds `Nguyễn`" rests on.
"""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from referral_ledger.projections.folding import fold, search_key, website_key


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Nguyễn Văn An", "nguyen van an"),
        ("Đặng Thị Ánh", "dang thi anh"),
        ("Đặng", "dang"),
        ("đ", "d"),
        ("Đ", "d"),
        ("Ánh", "anh"),
        ("ánh", "anh"),
        ("Trần Thị Bình", "tran thi binh"),
        ("Phạm Ngọc Ước", "pham ngoc uoc"),
        ("Lê Hữu Đức", "le huu duc"),
        ("Hồ Xuân Hương", "ho xuan huong"),
        ("Bùi Quỳnh Ý", "bui quynh y"),
        ("NGUYỄN VĂN AN", "nguyen van an"),
        ("nguyen van an", "nguyen van an"),
        ("  Nguyễn   Văn\tAn  ", "nguyen van an"),
        ("Café Sài Gòn", "cafe sai gon"),
        ("Ð", "d"),  # U+00D0, which looks like Đ (U+0110): lower-cased before mapping
        ("ð", "d"),
        ("", ""),
    ],
)
def test_fold_drops_accents_and_case(text: str, expected: str) -> None:
    assert expected == fold(text)


@pytest.mark.parametrize("text", ["Nguyễn Văn An", "Đặng Thị Ánh", "Phạm Ngọc Ước", "ĐẶNG"])
def test_combining_and_precomposed_input_fold_alike(text: str) -> None:
    """Phones and some keyboards send decomposed marks (NFD); both forms are one name."""
    decomposed = unicodedata.normalize("NFD", text)
    composed = unicodedata.normalize("NFC", text)
    assert decomposed != composed
    assert fold(composed) == fold(decomposed)


def test_d_with_stroke_is_folded_by_hand() -> None:
    """`Đ/đ` has no Unicode decomposition: NFD alone would leave it in place."""
    assert "Đ" == unicodedata.normalize("NFD", "Đ")
    assert "dang" == fold("Đặng")
    assert "dang" == fold("đặng")


@given(st.text(max_size=30))
def test_fold_is_idempotent_and_has_no_marks(text: str) -> None:
    once = fold(text)
    assert once == fold(once)
    assert not any(unicodedata.combining(ch) for ch in unicodedata.normalize("NFD", once))


@pytest.mark.parametrize(
    "url",
    [
        "shop.vn",
        "shop.vn/",
        "www.shop.vn",
        "www.shop.vn/",
        "http://shop.vn",
        "https://shop.vn",
        "https://shop.vn/",
        "https://www.shop.vn",
        "https://www.shop.vn/",
        "HTTPS://WWW.Shop.VN/",
        "http://www.shop.vn//",
    ],
)
def test_website_key_ignores_scheme_www_and_trailing_slash(url: str) -> None:
    assert "shop.vn" == website_key(url)


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://shop.vn/cua-hang/", "shop.vn/cua-hang"),
        ("https://wwwshop.vn", "wwwshop.vn"),  # only a `www.` label is dropped
        ("https://shop.www.vn", "shop.www.vn"),
        ("https://Cà-Phê.vn", "ca-phe.vn"),
    ],
)
def test_website_key_keeps_the_rest_of_the_address(url: str, expected: str) -> None:
    assert expected == website_key(url)


def test_search_key_keeps_fields_apart() -> None:
    """A term must not match across the end of one field and the start of the next."""
    key = search_key("Nguyễn Văn An", None, "Cà Phê Đặng", "shop.vn")
    assert "nguyen van an\nca phe dang\nshop.vn" == key
    assert "an ca" not in key
