"""Token accounting of the built-in model: prompt parts by modality, implicit caching, usage.

Token counts are heuristics, documented so tests can predict them:
- text (prompt parts, system instruction, answer): ceil(characters / 4), as Google's rule of thumb;
- other structured parts (function calls and results, code): ceil(characters of their JSON / 4);
- files (fileData read from Cloud Storage, inlineData): by MIME type and size in bytes:
  image/* 258 per file; video/* 263 per second at 1 MB/s; audio/* 32 per second at 16 kB/s;
  application/pdf 258 per page at 50 kB/page; anything else ceil(bytes / 4).

Modalities (promptTokensDetails, cacheTokensDetails): image/* IMAGE, video/* VIDEO, audio/*
AUDIO, application/pdf DOCUMENT, everything else TEXT. The answer is text
(candidatesTokensDetails TEXT). trafficType is ON_DEMAND, as on the service's pay-as-you-go
answers.

Implicit caching (on by default for Gemini 2.5 and later models; the batch page says cached
tokens are billed at the cache discount instead of the batch one): the prompt is the system
instruction's parts, then each content's parts, in order. When the longest prefix of those parts
that an earlier request of the same job (in input order) also began with counts at least
IMPLICIT_CACHE_MIN_TOKENS tokens, IMPLICIT_CACHE_SHARE of that prefix's tokens (rounded down,
modality by modality) is cachedContentTokenCount, with cacheTokensDetails by modality. The
prompt token count still includes them, as the API reference says.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass

from google.cloud import aiplatform_v1
from google.protobuf import json_format

Modality = aiplatform_v1.Modality
UsageMetadata = aiplatform_v1.GenerateContentResponse.UsageMetadata

CHARS_PER_TOKEN = 4
IMAGE_TOKENS = 258
VIDEO_TOKENS_PER_SECOND = 263
VIDEO_BYTES_PER_SECOND = 1_000_000
AUDIO_TOKENS_PER_SECOND = 32
AUDIO_BYTES_PER_SECOND = 16_000
PDF_TOKENS_PER_PAGE = 258
PDF_BYTES_PER_PAGE = 50_000
IMPLICIT_CACHE_MIN_TOKENS = 1024
IMPLICIT_CACHE_SHARE = 0.75


def text_tokens(text: str) -> int:
    return math.ceil(len(text) / CHARS_PER_TOKEN)


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
    return max(1, math.ceil(size / CHARS_PER_TOKEN))


def modality_of(mime_type: str) -> Modality:
    kind = mime_type.split("/", 1)[0].lower()
    if kind == "image":
        return Modality.IMAGE
    if kind == "video":
        return Modality.VIDEO
    if kind == "audio":
        return Modality.AUDIO
    if mime_type.lower() == "application/pdf":
        return Modality.DOCUMENT
    return Modality.TEXT


@dataclass(frozen=True)
class PromptPart:
    """One part of the prompt: its modality, its tokens, and what it is (for the cache)."""

    modality: Modality
    tokens: int
    identity: str


def prompt_parts(
    request: aiplatform_v1.GenerateContentRequest, file_sizes: Mapping[str, int]
) -> list[PromptPart]:
    """The prompt's parts in order: the system instruction's, then each content's."""
    parts: list[PromptPart] = []
    contents = [("system", request.system_instruction), *((c.role, c) for c in request.contents)]
    for role, content in contents:
        for part in content.parts:
            message = aiplatform_v1.Part.pb(part)
            kind = message.WhichOneof("data")
            if kind is None:
                continue
            identity = role + ":" + json_format.MessageToJson(message, indent=None, sort_keys=True)
            if kind == "text":
                parts.append(PromptPart(Modality.TEXT, text_tokens(part.text), identity))
            elif kind == "file_data":
                mime = part.file_data.mime_type
                size = file_sizes[part.file_data.file_uri]
                parts.append(PromptPart(modality_of(mime), file_tokens(mime, size), identity))
            elif kind == "inline_data":
                mime = part.inline_data.mime_type
                size = len(part.inline_data.data)
                parts.append(PromptPart(modality_of(mime), file_tokens(mime, size), identity))
            else:
                as_json = json_format.MessageToJson(message, indent=None)
                parts.append(PromptPart(Modality.TEXT, text_tokens(as_json), identity))
    return parts


class PrefixCache:
    """The prompt prefixes one job has seen, for implicit caching (see the module docstring)."""

    def __init__(
        self, min_tokens: int = IMPLICIT_CACHE_MIN_TOKENS, share: float = IMPLICIT_CACHE_SHARE
    ) -> None:
        self._min_tokens = min_tokens
        self._share = share
        self._seen: set[str] = set()

    def cached(self, parts: list[PromptPart]) -> dict[Modality, int]:
        """Cached tokens by modality for a prompt of `parts`; remembers its prefixes."""
        digest = ""
        longest = 0
        for index, part in enumerate(parts, start=1):
            digest = hashlib.sha256((digest + part.identity).encode()).hexdigest()
            if digest in self._seen:
                longest = index
            self._seen.add(digest)
        prefix = parts[:longest]
        if sum(part.tokens for part in prefix) < self._min_tokens:
            return {}
        by_modality = _by_modality(prefix)
        cached = {
            modality: math.floor(tokens * self._share) for modality, tokens in by_modality.items()
        }
        return {modality: tokens for modality, tokens in cached.items() if tokens}


def usage_metadata(
    parts: list[PromptPart],
    cached: Mapping[Modality, int],
    *,
    candidates_tokens: int = 0,
    thoughts_tokens: int = 0,
) -> UsageMetadata:
    """The usageMetadata of an answer (nothing generated for a blocked prompt)."""
    prompt_tokens = max(1, sum(part.tokens for part in parts))
    usage = UsageMetadata(
        prompt_token_count=prompt_tokens,
        candidates_token_count=candidates_tokens,
        thoughts_token_count=thoughts_tokens,
        total_token_count=prompt_tokens + candidates_tokens + thoughts_tokens,
        cached_content_token_count=sum(cached.values()),
        prompt_tokens_details=_details(_by_modality(parts) or {Modality.TEXT: prompt_tokens}),
        cache_tokens_details=_details(cached),
        traffic_type=UsageMetadata.TrafficType.ON_DEMAND,
    )
    if candidates_tokens:
        usage.candidates_tokens_details = _details({Modality.TEXT: candidates_tokens})
    return usage


def _by_modality(parts: list[PromptPart]) -> dict[Modality, int]:
    totals: dict[Modality, int] = {}
    for part in parts:
        totals[part.modality] = totals.get(part.modality, 0) + part.tokens
    return totals


def _details(tokens: Mapping[Modality, int]) -> list[aiplatform_v1.ModalityTokenCount]:
    return [
        aiplatform_v1.ModalityTokenCount(modality=modality, token_count=count)
        for modality, count in sorted(tokens.items())
        if count
    ]
