"""The pure half of capture: request + real ``openai`` completion types -> InferenceEvent."""

from __future__ import annotations

import math
import re
from typing import Any

import pydantic
import pytest
from openai.types.chat import ChatCompletion, ChatCompletionMessage
from openai.types.chat.chat_completion import Choice, ChoiceLogprobs
from openai.types.chat.chat_completion_message_function_tool_call import (
    ChatCompletionMessageFunctionToolCall,
    Function,
)
from openai.types.chat.chat_completion_token_logprob import ChatCompletionTokenLogprob
from openai.types.completion_usage import CompletionUsage

from distillery_capture.extract import chat_input, choice_output, event_from_completion, flatten_content


def completion(
    cid: str = "chatcmpl-1",
    content: str | None = "coffee_shops",
    *,
    logprobs: list[float] | None = None,
    tool_calls: list[Any] | None = None,
    refusal: str | None = None,
) -> ChatCompletion:
    lp = None
    if logprobs is not None:
        lp = ChoiceLogprobs(content=[ChatCompletionTokenLogprob(token=f"t{i}", logprob=v, bytes=None, top_logprobs=[])
                                     for i, v in enumerate(logprobs)])
    msg = ChatCompletionMessage(role="assistant", content=content, tool_calls=tool_calls, refusal=refusal)
    return ChatCompletion(
        id=cid, object="chat.completion", created=1_700_000_000, model="gpt-4.1-mini-2025-04-14",
        choices=[Choice(index=0, finish_reason="stop", message=msg, logprobs=lp)],
        usage=CompletionUsage(prompt_tokens=31, completion_tokens=4, total_tokens=35),
    )


CALL = ChatCompletionMessageFunctionToolCall(id="call_1", type="function",
                                             function=Function(name="lookup", arguments='{"q": "x"}'))
REQUEST = {
    "model": "gpt-4.1-mini",
    "messages": [
        {"role": "system", "content": "Classify the transaction."},
        {"role": "user", "content": [{"type": "text", "text": "STARBUCKS #1234"},
                                     {"type": "image_url", "image_url": {"url": "data:,"}},
                                     {"type": "text", "text": "SEATTLE WA"}]},
    ],
}


def test_event_from_a_real_completion_has_every_field() -> None:
    ev = event_from_completion(completion(), REQUEST, task="transactions", ts_ms=1_700_000_000_123,
                               metadata={"service": "ledger", "region": "eu"})
    assert ev is not None
    assert ev.model_dump(exclude_none=True) == {
        "schema_version": 1,
        "task": "transactions",
        "event_id": "chatcmpl-1",
        "input": [{"role": "system", "content": "Classify the transaction."},
                  {"role": "user", "content": "STARBUCKS #1234\n[image_url]\nSEATTLE WA"}],
        "ts": 1_700_000_000_123,
        "output": "coffee_shops",
        "model": "gpt-4.1-mini-2025-04-14",
        "usage": {"prompt_tokens": 31, "completion_tokens": 4},
        "metadata": {"service": "ledger", "region": "eu"},
    }
    # that the contract's validation accepts it: tests/unit/distillery/test_capture_deployment.py


def test_confidence_is_the_geometric_mean_of_token_probabilities() -> None:
    ev = event_from_completion(completion(logprobs=[math.log(0.5), math.log(0.125)]), REQUEST,
                               task="t", ts_ms=1)
    assert ev is not None and ev.confidence == pytest.approx(0.25)


def test_event_id_falls_back_to_a_uuid_when_the_completion_id_is_unusable() -> None:
    for bad in ("", "x" * 513):
        ev = event_from_completion(completion(cid=bad), REQUEST, task="t", ts_ms=1)
        assert ev is not None and re.fullmatch(r"[0-9a-f]{32}", ev.event_id)


def test_previous_response_messages_tool_calls_and_roles() -> None:
    previous = completion(content=None, tool_calls=[CALL]).choices[0].message  # appended as an object
    msgs = chat_input([{"role": "user", "content": "q"}, previous,
                       {"role": "function", "name": "lookup", "content": "42"},
                       {"role": "narrator", "content": "dropped"}])
    assert [(m.role, m.content) for m in msgs] == [
        ("user", "q"), ("assistant", '[{"name": "lookup", "arguments": "{\\"q\\": \\"x\\"}"}]'), ("tool", "42")]


def test_output_is_text_else_tool_calls_else_refusal() -> None:
    assert choice_output(completion(content=None, tool_calls=[CALL]).choices[0]) == {
        "tool_calls": [{"name": "lookup", "arguments": '{"q": "x"}'}]}
    assert choice_output(completion(content=None, refusal="no").choices[0]) == {"refusal": "no"}
    assert choice_output(completion(content=None).choices[0]) is None


def test_flatten_content_forms() -> None:
    assert flatten_content(None) == ""
    assert flatten_content([{"type": "refusal", "refusal": "r"}, "raw", {"type": "file"}]) == "r\nraw\n[file]"


def test_not_a_completion_is_none_and_no_messages_raises() -> None:
    assert event_from_completion(object(), REQUEST, task="t", ts_ms=1) is None
    with pytest.raises(pydantic.ValidationError):
        event_from_completion(completion(), {"messages": []}, task="t", ts_ms=1)
