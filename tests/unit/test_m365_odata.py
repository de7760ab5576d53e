"""OData literals, filters and query encoding (`m365.odata`, `m365.http.build_url`)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta, timezone
from urllib.parse import parse_qsl, urlsplit

import pytest

from m365 import odata
from m365.graph import user_segment
from m365.http import build_url, path_segment


def test_quote_doubles_apostrophes() -> None:
    assert odata.quote("o'brien") == "'o''brien'"
    assert odata.quote("miriam.o'brien@example.com") == "'miriam.o''brien@example.com'"
    assert odata.quote("''") == "''''''"
    assert odata.quote("") == "''"


def test_quote_cannot_end_the_literal() -> None:
    hostile = "x' or userType eq 'Guest"
    literal = odata.quote(hostile)
    assert literal == "'x'' or userType eq ''Guest'"
    # Inside the literal every quote is doubled: the literal is one token.
    assert literal[1:-1].replace("''", "").count("'") == 0


def test_datetime_literal_is_utc_without_fraction() -> None:
    assert odata.datetime_literal(datetime(2026, 11, 21, tzinfo=UTC)) == "2026-11-21T00:00:00Z"
    cet = timezone(timedelta(hours=1))
    assert odata.datetime_literal(datetime(2026, 11, 21, 1, 30, 5, 999, tzinfo=cet)) == "2026-11-21T00:30:05Z"
    assert odata.datetime_literal(datetime(2026, 11, 21, 8, 0)) == "2026-11-21T08:00:00Z"  # naive = UTC


def test_filters() -> None:
    since = datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    assert odata.eq("userId", "a'b") == "userId eq 'a''b'"
    assert odata.ge("createdDateTime", since) == "createdDateTime ge 2026-01-02T03:04:05Z"
    assert odata.any_eq("proxyAddresses", "smtp:x@y.z") == "proxyAddresses/any(x:x eq 'smtp:x@y.z')"
    assert odata.any_eq("targetResources", "id1", member="id", var="t") == "targetResources/any(t:t/id eq 'id1')"
    assert odata.or_(["a", "b"]) == "(a or b)"
    assert odata.or_(["a"]) == "a"
    assert odata.and_([odata.or_(["a", "b"]), "c"]) == "(a or b) and c"
    with pytest.raises(ValueError):
        odata.or_([])


def test_search_phrase_escapes_quotes_and_backslashes() -> None:
    assert odata.search_phrase("displayName", "Megan") == '"displayName:Megan"'
    assert odata.search_phrase("displayName", 'a"b\\c') == '"displayName:a\\"b\\\\c"'


def test_encode_query_keeps_dollar_and_encodes_separators() -> None:
    query = odata.encode_query([("$filter", "mail eq 'a+b@x.com' & 1=1 #"), ("$top", "5")])
    assert query.startswith("$filter=mail%20eq%20'a%2Bb@x.com'%20%26%201%3D1%20%23&$top=5")
    assert dict(parse_qsl(query)) == {"$filter": "mail eq 'a+b@x.com' & 1=1 #", "$top": "5"}


def test_build_url_is_not_reencoded() -> None:
    url = build_url("https://graph.example/v1.0/", "/users", {"$filter": "a eq 'b c'", "$count": True, "$top": 3})
    assert str(url) == "https://graph.example/v1.0/users?$filter=a%20eq%20'b%20c'&$count=true&$top=3"
    assert urlsplit(str(url)).path == "/v1.0/users"


def test_path_segments_for_awkward_upns() -> None:
    assert path_segment("miriam.o'brien@example.com") == "miriam.o%27brien@example.com"
    assert path_segment("jordan_partner.example#EXT#@example.onmicrosoft.com") == (
        "jordan_partner.example%23EXT%23@example.onmicrosoft.com")
    assert path_segment("a/b?c") == "a%2Fb%3Fc"
    assert user_segment("$admin@example.com") == "(%27%24admin@example.com%27)"


def test_chunk_filters_respects_the_length_limit() -> None:
    ids = [f"{n:08d}-0000-0000-0000-000000000000" for n in range(200)]

    def render(chunk: Sequence[str]) -> str:
        return odata.or_([odata.eq("userId", i) for i in chunk])

    chunks = odata.chunk_filters(ids, render, max_encoded_length=1800)
    assert len(chunks) > 1
    assert [i for c in chunks for i in c] == ids
    assert all(len(odata.encode_value(render(c))) <= 1800 for c in chunks)
    assert odata.chunk_filters([], render, max_encoded_length=10) == []
    assert odata.chunk_filters(["x" * 50], render, max_encoded_length=10) == [["x" * 50]]
