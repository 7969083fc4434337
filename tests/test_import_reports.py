"""Customer imports name every row they did not create, and refuse rows that fight.

The story of issue 18: under "skip" a row without a POS code took a phone, and
the later rows with codes were only counted as skipped, so 17 POS codes never
made it in and nobody could tell which.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from referral_ledger import ImportReport, Ledger
from stores import fresh_store
from support import Clock

AN, BINH, CHI = "+84911000001", "+84911000002", "+84911000003"


def test_skipped_rows_name_their_row_phone_customer_and_the_pos_id_left_out(
    ledger: Ledger,
) -> None:
    rows: list[dict[str, object]] = [
        {"name": "Khách lẻ", "phone": "0911 000 001"},  # no POS code: takes the phone
        {"name": "Nguyễn Văn An", "phone": "0911000001", "external_id": "KH-017"},
        {"name": "Trần Thị Bình", "phone": "0911000002", "external_id": "KH-018"},
        {"name": "Lê Văn An", "phone": "0911000001", "external_id": "KH-019"},
    ]
    report = ledger.import_customers(rows, on_duplicate_phone="skip")
    assert (2, 2) == (report.created, report.skipped)
    walk_in = ledger.find_customer_by_phone(AN)
    skipped = report.of("skipped")
    assert [2, 4] == [row.number for row in skipped]
    for row, pos_id in zip(skipped, ("KH-017", "KH-019"), strict=True):
        assert (walk_in, "phone", AN) == (row.customer_id, row.matched_by, row.matched)
        assert f"POS id {pos_id!r}" in row.reason and "recorded nothing" in row.reason
        assert "'Khách lẻ'" in row.reason  # whose phone it is
        assert ledger.find_customer_by_external_id(pos_id) is None
    assert skipped == report.rows  # nothing else went otherwise


def test_updated_and_unchanged_rows_name_the_pos_id_they_matched(ledger: Ledger) -> None:
    rows: list[dict[str, object]] = [
        {"name": "An", "phone": "0911000001", "external_id": "KH-1"},
        {"name": "Bình", "phone": "0911000002", "external_id": "KH-2"},
    ]
    ledger.import_customers(rows)
    rows[1] = {**rows[1], "email": "binh@example.vn"}
    report = ledger.import_customers(rows)
    assert ImportReport(updated=1, unchanged=1) == report
    an, binh = (ledger.find_customer_by_external_id(x) for x in ("KH-1", "KH-2"))
    unchanged, updated = report.rows
    assert (1, "unchanged", an, "external_id", "KH-1") == (
        unchanged.number, unchanged.outcome, unchanged.customer_id, unchanged.matched_by,
        unchanged.matched,
    )  # fmt: skip
    assert (2, "updated", binh, "external_id", "KH-2") == (
        updated.number, updated.outcome, updated.customer_id, updated.matched_by, updated.matched,
    )  # fmt: skip
    assert "changes nothing" in unchanged.reason and "applied" in updated.reason


def test_a_pos_row_skipped_for_a_phone_of_another_customer_names_both(ledger: Ledger) -> None:
    chi = ledger.register_customer("Chi", ["0911000003"])
    ledger.import_customers([{"name": "An", "phone": "0911000001", "external_id": "KH-1"}])
    report = ledger.import_customers(
        [{"name": "An", "phones": "0911000001; 0911000003", "external_id": "KH-1"}],
        on_duplicate_phone="skip",
    )
    (row,) = report.of("skipped")
    assert ("external_id", "KH-1") == (row.matched_by, row.matched)
    assert f"new phone {CHI} belongs to customer {chi}" in row.reason


def test_rows_merged_under_update_name_the_phone_and_customer(ledger: Ledger) -> None:
    an = ledger.register_customer("An", ["0911000001"])
    report = ledger.import_customers(
        [{"name": "An", "phone": "0911000001", "external_id": "KH-1", "email": "an@x.vn"}],
        on_duplicate_phone="update",
    )
    (row,) = report.rows
    assert ("updated", an, "phone", AN) == (
        row.outcome,
        row.customer_id,
        row.matched_by,
        row.matched,
    )
    assert "merged" in row.reason and "KH-1" in row.reason


def test_rejected_rows_are_listed_with_the_rest(ledger: Ledger) -> None:
    report = ledger.import_customers([{"name": "An", "phone": "not a phone"}, {"name": "B"}])
    assert [(1, "rejected"), (2, "rejected")] == [(r.number, r.outcome) for r in report.rows]
    assert [reason for _, reason in report.rejected] == [r.reason for r in report.rows]


# --- conflicts -----------------------------------------------------------------------------


def fighting_rows() -> list[dict[str, object]]:
    return [
        {"name": "Nguyễn Văn An", "phone": "0911000001"},
        {"name": "Phạm Thị Dung", "phone": "0911000001"},  # the same phone, another name
        {"name": "Nguyễn Văn An", "phones": "0911000001; 0911000002"},  # agrees: merged
    ]


@pytest.mark.parametrize("batch_size", [1, 500])
def test_rows_fighting_over_a_phone_under_update_keep_the_first_and_flip_nothing(
    ledger: Ledger, batch_size: int
) -> None:
    report = ledger.import_customers(
        fighting_rows(), on_duplicate_phone="update", batch_size=batch_size
    )
    assert (1, 1, 1) == (report.created, report.updated, report.conflicts)
    (conflict,) = report.of("conflict")
    assert (2, 1, "phone", AN, None) == (
        conflict.number, conflict.other_row, conflict.matched_by, conflict.matched,
        conflict.customer_id,
    )  # fmt: skip
    assert "'Nguyễn Văn An'" in conflict.reason and "'Phạm Thị Dung'" in conflict.reason
    an = ledger.find_customer_by_phone(AN)
    assert an is not None and "Nguyễn Văn An" == ledger.get_customer(an).name
    before = ledger.event_count()
    again = ledger.import_customers(
        fighting_rows(), on_duplicate_phone="update", batch_size=batch_size
    )
    assert (0, 0, 2, 1) == (again.created, again.updated, again.unchanged, again.conflicts)
    assert before == ledger.event_count()


def test_two_rows_with_one_pos_id_and_different_phones_conflict_under_any_policy(
    ledger: Ledger,
) -> None:
    rows = [
        {"name": "An", "phone": "0911000001", "external_id": "KH-1"},
        {"name": "An", "phone": "0911000002", "external_id": "KH-1"},
    ]
    report = ledger.import_customers(rows, on_duplicate_phone="skip")
    (conflict,) = report.of("conflict")
    assert (2, 1, "external_id", "KH-1") == (
        conflict.number, conflict.other_row, conflict.matched_by, conflict.matched,
    )  # fmt: skip
    assert "phones" in conflict.reason


#: A few names, phones and POS ids, so that generated rows collide often.
_rows = st.lists(
    st.fixed_dictionaries(
        {
            "name": st.sampled_from(["An", "Bình", "Chi"]),
            "phones": st.lists(st.sampled_from([AN, BINH, CHI]), min_size=1, max_size=2),
        },
        optional={
            "external_id": st.sampled_from(["KH-1", "KH-2"]),
            "email": st.sampled_from(["a@x.vn", "b@x.vn", None]),
            "tags": st.lists(st.sampled_from(["vip", "sỉ"]), max_size=2),
        },
    ),
    max_size=6,
)


def reimport_records_nothing(kind: str, rows: list[dict[str, object]], policy: Any) -> None:
    """The guarantee conflicts exist for: a file imported twice changes nothing the
    second time (no flip), whatever rows collide. ("create" makes a new customer of
    every row without a POS id each time, by its definition.)"""
    url, cleanup = fresh_store(kind)
    try:
        with Ledger.open(url, clock=Clock(datetime(2025, 1, 1, tzinfo=UTC))) as ledger:
            first = ledger.import_customers(rows, on_duplicate_phone=policy)
            before = ledger.event_count()
            second = ledger.import_customers(rows, on_duplicate_phone=policy)
            assert before == ledger.event_count(), (first.rows, second.rows)
            assert (0, 0) == (second.created, second.updated)
            assert first.total == second.total == len(rows)
    finally:
        cleanup()


_POLICIES = st.sampled_from(["update", "skip", "reject"])
_SLOW = [HealthCheck.too_slow]


@settings(max_examples=150, deadline=None, suppress_health_check=_SLOW)
@given(rows=_rows, policy=_POLICIES)
def test_importing_the_same_file_again_records_nothing(
    rows: list[dict[str, object]], policy: Any
) -> None:
    reimport_records_nothing("memory", rows, policy)


@settings(max_examples=25, deadline=None, suppress_health_check=_SLOW)
@given(rows=_rows, policy=_POLICIES)
def test_importing_the_same_file_again_records_nothing_on_sqlite(
    rows: list[dict[str, object]], policy: Any
) -> None:
    reimport_records_nothing("sqlite", rows, policy)


@pytest.mark.postgres
@settings(max_examples=15, deadline=None, suppress_health_check=_SLOW)
@given(rows=_rows, policy=_POLICIES)
def test_importing_the_same_file_again_records_nothing_on_postgres(
    rows: list[dict[str, object]], policy: Any
) -> None:
    reimport_records_nothing("postgres", rows, policy)
