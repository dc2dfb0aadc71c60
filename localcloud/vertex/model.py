"""The built-in deterministic model that answers every row of a batch job.

The same request always gets the same answer: every choice comes from a random generator seeded
with a SHA-256 of the request's canonical JSON (labels left out: they do not reach the model).

Token counts are heuristics, documented so tests can predict them:
- text (prompt parts, system instruction, answer): ceil(characters / 4), as Google's rule of thumb;
- other structured parts (function calls and results, code): ceil(characters of their JSON / 4);
- files (fileData read from Cloud Storage, inlineData): by MIME type and size in bytes:
  image/* 258 per file; video/* 263 per second at 1 MB/s; audio/* 32 per second at 16 kB/s;
  application/pdf 258 per page at 50 kB/page; anything else ceil(bytes / 4).
- thinking: 24 to 160 thought tokens per answer unless thinkingConfig.thinkingBudget is 0 (capped
  by a positive budget). As on the Gemini 2.5+ models, thoughts count against maxOutputTokens.

maxOutputTokens cuts the answer at that many tokens (4 characters each) and gives MAX_TOKENS;
stopSequences cut it before the first stop sequence. With responseMimeType application/json the
answer is JSON text that conforms to responseSchema or responseJsonSchema (a generic object
without a schema); text/x.enum with an enum schema answers one of the enum values.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import random
from collections.abc import Mapping
from typing import Any

from google.cloud import aiplatform_v1
from google.protobuf import json_format

from localcloud.vertex.schema_values import openapi_to_json_schema, value_for_schema

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
_CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 258
VIDEO_TOKENS_PER_SECOND = 263
VIDEO_BYTES_PER_SECOND = 1_000_000
AUDIO_TOKENS_PER_SECOND = 32
AUDIO_BYTES_PER_SECOND = 16_000
PDF_TOKENS_PER_PAGE = 258
PDF_BYTES_PER_PAGE = 50_000


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / _CHARS_PER_TOKEN)


def file_tokens(mime_type: str, size: int) -> int:
    """Prompt tokens of a file of `size` bytes, by the heuristics in the module docstring."""
    kind = mime_type.split("/", 1)[0].lower()
    if kind == "image":
        return IMAGE_TOKENS
    if kind == "video":
        return VIDEO_TOKENS_PER_SECOND * max(1, math.ceil(size / VIDEO_BYTES_PER_SECOND))
    if kind == "audio":
        return AUDIO_TOKENS_PER_SECOND * max(1, math.ceil(size / AUDIO_BYTES_PER_SECOND))
    if mime_type.lower() == "application/pdf":
        return PDF_TOKENS_PER_PAGE * max(1, math.ceil(size / PDF_BYTES_PER_PAGE))
    return max(1, math.ceil(size / _CHARS_PER_TOKEN))


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
    ) -> dict[str, Any]:
        """The GenerateContentResponse JSON (lowerCamelCase) for `request`.

        `file_sizes` maps every fileData URI of the request to its size in bytes.
        """
        digest = request_digest(request)
        rng = random.Random(int(digest, 16))
        prompt_tokens = self._prompt_tokens(request, file_sizes)
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
            response.usage_metadata = aiplatform_v1.GenerateContentResponse.UsageMetadata(
                prompt_token_count=prompt_tokens, total_token_count=prompt_tokens
            )
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
            text = self._answer_text(request, rng, digest)
            finish = "STOP"
            for stop in config.stop_sequences:
                if stop and stop in text:
                    text = text[: text.index(stop)]
            if limit is not None and text_tokens(text) > limit - thoughts:
                text = text[: (limit - thoughts) * _CHARS_PER_TOKEN]
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
        response.usage_metadata = aiplatform_v1.GenerateContentResponse.UsageMetadata(
            prompt_token_count=prompt_tokens,
            candidates_token_count=candidates_tokens,
            thoughts_token_count=thoughts_tokens,
            total_token_count=prompt_tokens + candidates_tokens + thoughts_tokens,
        )
        return _to_json(response)

    def _answer_text(
        self, request: aiplatform_v1.GenerateContentRequest, rng: random.Random, digest: str
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
            return json.dumps(value_for_schema(schema, rng), ensure_ascii=False)
        subject = _last_user_text(request)[:60] or "the attached content"
        words = [rng.choice(_VOCABULARY) for _ in range(rng.randint(18, 70))]
        body = " ".join(words)
        return f'Answer {digest[:8]} from {self.model_id} to "{subject}": {body.capitalize()}.'

    def _prompt_tokens(
        self, request: aiplatform_v1.GenerateContentRequest, file_sizes: Mapping[str, int]
    ) -> int:
        contents = [*request.contents, request.system_instruction]
        total = 0
        for content in contents:
            for part in content.parts:
                kind = aiplatform_v1.Part.pb(part).WhichOneof("data")
                if kind == "text":
                    total += text_tokens(part.text)
                elif kind == "file_data":
                    size = file_sizes[part.file_data.file_uri]
                    total += file_tokens(part.file_data.mime_type, size)
                elif kind == "inline_data":
                    total += file_tokens(part.inline_data.mime_type, len(part.inline_data.data))
                elif kind is not None:
                    as_json = json_format.MessageToJson(aiplatform_v1.Part.pb(part), indent=None)
                    total += text_tokens(as_json)
        return max(1, total)


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
