"""The built-in deterministic model that answers every row of a batch job.

The same request always gets the same answer: every choice comes from a random generator seeded
with a SHA-256 of the request's canonical JSON (labels left out: they do not reach the model).

Prompt tokens, their modalities and implicit caching are localcloud.vertex.usage's heuristics.
- thinking: 24 to 160 thought tokens per answer unless thinkingConfig.thinkingBudget is 0 (capped
  by a positive budget). As on the Gemini 2.5+ models, thoughts count against maxOutputTokens.

maxOutputTokens cuts the answer at that many tokens (4 characters each) and gives MAX_TOKENS;
stopSequences cut it before the first stop sequence. With responseMimeType application/json the
answer is JSON text that conforms to responseSchema or responseJsonSchema (a generic object
without a schema); text/x.enum with an enum schema answers one of the enum values.

JSON faults (Faults.json_fault, chosen per row by the runner) spoil a JSON answer the way
real ones go wrong: "cut_short" stops it half-way with MAX_TOKENS, "invalid" adds a trailing
comma, "off_schema" gives valid JSON that breaks the schema (schema_values.break_schema).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import random
from collections.abc import Mapping
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from localcloud.vertex.schema_values import break_schema, openapi_to_json_schema, value_for_schema
from localcloud.vertex.usage import (
    CHARS_PER_TOKEN,
    PrefixCache,
    file_tokens,
    prompt_parts,
    text_tokens,
    usage_metadata,
)

__all__ = ["BuiltinModel", "file_tokens", "request_digest", "text_tokens"]

_VOCABULARY = [
    "the",
    "a",
    "batch",
    "of",
    "requests",
    "model",
    "answer",
    "returns",
    "careful",
    "clear",
    "short",
    "long",
    "detailed",
    "simple",
    "result",
    "line",
    "file",
    "bucket",
    "job",
    "token",
    "prompt",
    "reply",
    "steps",
    "first",
    "then",
    "finally",
    "mix",
    "bake",
    "serve",
    "slowly",
    "quickly",
    "warm",
    "cool",
    "fresh",
    "sweet",
    "bright",
    "calm",
    "steady",
    "useful",
    "offline",
    "local",
    "emulator",
]


def request_digest(request: aiplatform_v1.GenerateContentRequest) -> str:
    """SHA-256 of the request's canonical JSON, labels left out."""
    canonical = json_format.MessageToDict(aiplatform_v1.GenerateContentRequest.pb(request))
    canonical.pop("labels", None)
    encoded = json.dumps(canonical, sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(encoded).hexdigest()


class BuiltinModel:
    """Answers GenerateContentRequests without a network, the same way every time."""

    def __init__(self, model_id: str, block_marker: str = "") -> None:
        self.model_id = model_id
        self.block_marker = block_marker

    def generate(
        self,
        request: aiplatform_v1.GenerateContentRequest,
        file_sizes: Mapping[str, int],
        now: dt.datetime,
        cache: PrefixCache | None = None,
        json_fault: str | None = None,
    ) -> dict[str, Any]:
        """The GenerateContentResponse JSON (lowerCamelCase) for `request`.

        `file_sizes` maps every fileData URI of the request to its size in bytes; `cache` holds
        the prompt prefixes of the job's earlier requests (implicit caching); `json_fault`
        spoils a JSON answer (module docstring).
        """
        digest = request_digest(request)
        rng = random.Random(int(digest, 16))
        parts_in = prompt_parts(request, file_sizes)
        cached = cache.cached(parts_in) if cache is not None else {}
        response = aiplatform_v1.GenerateContentResponse(
            model_version=self.model_id,
            create_time=now,
            response_id=digest[:22],
        )
        if self.block_marker and self.block_marker in _prompt_text(request):
            response.prompt_feedback = aiplatform_v1.GenerateContentResponse.PromptFeedback(
                block_reason="SAFETY",
                block_reason_message="The prompt was blocked by the emulator's block marker.",
            )
            response.usage_metadata = usage_metadata(parts_in, cached)
            return _to_json(response)

        config = request.generation_config
        config_pb = aiplatform_v1.GenerationConfig.pb(config)
        thinking = config.thinking_config
        budget = (
            thinking.thinking_budget
            if aiplatform_v1.GenerationConfig.ThinkingConfig.pb(thinking).HasField(
                "thinking_budget"
            )
            else -1
        )
        limit = config.max_output_tokens if config_pb.HasField("max_output_tokens") else None
        candidate_count = max(1, config.candidate_count or 1)
        candidates_tokens = 0
        thoughts_tokens = 0
        for index in range(candidate_count):
            thoughts = 0 if budget == 0 else rng.randint(24, 160)
            if budget > 0:
                thoughts = min(thoughts, budget)
            if limit is not None:
                thoughts = min(thoughts, limit)
            text = self._answer_text(request, rng, digest, json_fault)
            finish = "STOP"
            if json_fault == "cut_short" and config.response_mime_type == "application/json":
                text, finish = text[: max(1, len(text) // 2)], "MAX_TOKENS"
            for stop in config.stop_sequences:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            if limit is not None and text_tokens(text) > limit - thoughts:
                text = text[: (limit - thoughts) * CHARS_PER_TOKEN]
                finish = "MAX_TOKENS"
            parts: list[aiplatform_v1.Part] = []
            if thinking.include_thoughts and thoughts:
                parts.append(aiplatform_v1.Part(text=f"Thinking about {digest[:8]}.", thought=True))
            if text:
                parts.append(aiplatform_v1.Part(text=text))
            response.candidates.append(
                aiplatform_v1.Candidate(
                    index=index,
                    content=aiplatform_v1.Content(role="model", parts=parts),
                    finish_reason=finish,
                    avg_logprobs=-round(rng.uniform(0.05, 1.5), 6),
                )
            )
            candidates_tokens += text_tokens(text)
            thoughts_tokens += thoughts
        response.usage_metadata = usage_metadata(
            parts_in,
            cached,
            candidates_tokens=candidates_tokens,
            thoughts_tokens=thoughts_tokens,
        )
        return _to_json(response)

    def _answer_text(
        self,
        request: aiplatform_v1.GenerateContentRequest,
        rng: random.Random,
        digest: str,
        json_fault: str | None = None,
    ) -> str:
        config = request.generation_config
        config_pb = aiplatform_v1.GenerationConfig.pb(config)
        schema: dict[str, Any] | None = None
        if config_pb.HasField("response_schema"):
            schema = openapi_to_json_schema(json_format.MessageToDict(config_pb.response_schema))
        elif config_pb.HasField("response_json_schema"):
            schema = json_format.MessageToDict(config_pb.response_json_schema)
        mime_type = config.response_mime_type
        if mime_type == "text/x.enum" and schema is not None and schema.get("enum"):
            return str(rng.choice(schema["enum"]))
        if mime_type == "application/json":
            if schema is None:
                schema = {
                    "type": "object",
                    "properties": {"answer": {"type": "string"}, "score": {"type": "number"}},
                }
            value = value_for_schema(schema, rng)
            if json_fault == "off_schema":
                value = break_schema(value, schema)
            text = json.dumps(value, ensure_ascii=False)
            if json_fault == "invalid":  # a trailing comma: the mistake JSON parsers refuse
                return text[:-1] + "," + text[-1] if text[-1] in "}]" else text + ","
            return text
        subject = _last_user_text(request)[:60] or "the attached content"
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(18, 70))]
        body = " ".join(words)
        return f'Answer {digest[:8]} from {self.model_id} to "{subject}": {body.capitalize()}.'


def _prompt_text(request: aiplatform_v1.GenerateContentRequest) -> str:
    contents = [*request.contents, request.system_instruction]
    return "\n".join(part.text for content in contents for part in content.parts if part.text)


def _last_user_text(request: aiplatform_v1.GenerateContentRequest) -> str:
    for content in reversed(request.contents):
        if content.role in ("", "user"):
            texts = [part.text for part in content.parts if part.text]
            if texts:
                return " ".join(texts)
    return ""


def _to_json(response: aiplatform_v1.GenerateContentResponse) -> dict[str, Any]:
    as_json: dict[str, Any] = json_format.MessageToDict(
        aiplatform_v1.GenerateContentResponse.pb(response)
    )
    return as_json
