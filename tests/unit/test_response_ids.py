"""Response ids carry what feedback names (route, adapter, model, time), signed: nothing is stored per
answer, and an id the gateway did not mint, or one altered, is not accepted."""

import base64

from tutorbook_gateway.chat.completions import ResponseIds
from tutorbook_gateway.settings import KeySettings
from tutorbook_gateway.state.feedback import ResponseRecord
from tutorbook_gateway.wiring import response_id_key

RECORD = ResponseRecord("adapter", "triage@2", "triage@2", 1_764_000_000)


def test_an_id_reads_back_as_the_answer_it_names() -> None:
    ids = ResponseIds(b"k" * 32)
    first, second = ids.mint(RECORD), ids.mint(RECORD)
    assert first.startswith("chatcmpl-") and first != second  # one id per answer, even for the same record
    assert ids.read(first) == ids.read(second) == RECORD


def test_a_forged_or_altered_id_is_refused() -> None:
    ids = ResponseIds(b"k" * 32)
    minted = ids.mint(RECORD)
    body, _, signature = minted.removeprefix("chatcmpl-").partition(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)).replace(b'"adapter"', b'"rag"')
    altered = "chatcmpl-" + base64.urlsafe_b64encode(payload).rstrip(b"=").decode() + "." + signature
    assert ids.read(altered) is None
    assert ResponseIds(b"other key").read(minted) is None
    for junk in ("chatcmpl-nope", "chatcmpl-", "chatcmpl-a.b", "no-prefix", "chatcmpl-!!!.???"):
        assert ids.read(junk) is None


def test_replicas_with_the_same_keys_read_each_others_ids() -> None:
    first = response_id_key(KeySettings(admin_keys="a,b", api_keys="u"))
    second = response_id_key(KeySettings(admin_keys="b, a", api_keys="v"))
    assert ResponseIds(second).read(ResponseIds(first).mint(RECORD)) == RECORD
    assert response_id_key(KeySettings(admin_keys="c")) != first
    assert response_id_key(KeySettings(response_id_secret="s")) == b"s"
