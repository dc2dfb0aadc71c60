"""What a requests file will cost, estimated before anything is spent (no cloud client).

The validator tallies each valid request's input as it passes (`InputTally`): characters of
text (contents and systemInstruction), media parts by kind, and `maxOutputTokens` where set.
`estimate_file` turns a tally into tokens and a cost range at batch prices:

- text: characters / CHARS_PER_TOKEN. "For Gemini models, a token is equivalent to about 4
  characters. 100 tokens is equal to about 60-80 English words."
  (https://ai.google.dev/gemini-api/docs/tokens). Other languages and code run denser;
- media, per the documented rates (same page, multimodal section): an image 258 tokens (one
  up to 384x384 pixels; a larger one is cut into 768x768 tiles of 258 each, so this is a low
  figure), video 263 tokens per second, audio 32 tokens per second ("Gemini represents each
  second of audio as 32 tokens", quoted at discuss.ai.google.dev/t/84379), a PDF page like an
  image, 258 (cloud.google.com/distributed-cloud/hosted/docs/latest/gdch/gemini/capabilities/document:
  "each page of a PDF is tokenized the same way as an image"). A part names its media by URI
  or carries it inline; neither says how long a video is or how many pages a PDF has, so each
  part counts at the stated assumptions (MediaAssumptions);
- output: the low end counts none (every answer empty: what the input alone costs); the high
  end counts each request's maxOutputTokens, or the model's maximum output where it sets
  none. Thinking tokens are billed as output and fall within maxOutputTokens.

Function declarations, tool schemas and response schemas are input too but are not counted.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from batchline.domain.pricing import ModelPrice, estimate_cost, price_for, price_key

__all__ = [
    "CHARS_PER_TOKEN",
    "DEFAULT_MAX_OUTPUT_TOKENS",
    "MEDIA_KINDS",
    "FileEstimate",
    "InputTally",
    "MediaAssumptions",
    "estimate_file",
    "max_output_tokens",
]

CHARS_PER_TOKEN: Final = 4.0
IMAGE_TOKENS: Final = 258
VIDEO_TOKENS_PER_SECOND: Final = 263
AUDIO_TOKENS_PER_SECOND: Final = 32
DOCUMENT_PAGE_TOKENS: Final = 258

MEDIA_KINDS: Final = ("image", "video", "audio", "document")
_IMAGE, _VIDEO, _AUDIO, _DOCUMENT = range(4)

# The most a request may generate when it sets no maxOutputTokens (the model pages give 65,536
# for the Gemini 2.5 and 3 Flash models); a model not listed gets the default.
DEFAULT_MAX_OUTPUT_TOKENS: Final = 65_536
MAX_OUTPUT_TOKENS: Final[Mapping[str, int]] = {
    "gemini-3.5-flash": 65_536,
    "gemini-3.5-flash-lite": 65_536,
    "gemini-3.1-flash-lite": 65_536,
}


def max_output_tokens(model: str) -> int:
    return MAX_OUTPUT_TOKENS.get(price_key(model), DEFAULT_MAX_OUTPUT_TOKENS)


def _media_kind(mime_type: object) -> int:
    """image/*, video/*, audio/*; anything else (application/pdf, text/*) is a document."""
    if isinstance(mime_type, str):
        major = mime_type.partition("/")[0].lower()
        if major == "image":
            return _IMAGE
        if major == "video":
            return _VIDEO
        if major == "audio":
            return _AUDIO
    return _DOCUMENT


class InputTally:
    """What the valid requests of a file hold, summed: the estimate's raw material.

    Two ways in, which must agree: `add_counted` and `add_media_types` for the requests the fast path
    decoded (counted during their decode: validation.fast), `add_request` for a request
    as JSON values (the precise path). Neither counts `requests`: the validator sets it to the
    valid requests it counted anyway.
    """

    __slots__ = ("bounded_output_tokens", "bounded_requests", "media", "requests", "text_chars")

    def __init__(self) -> None:
        self.requests = 0
        self.text_chars = 0
        # Parts per kind, in MEDIA_KINDS order.
        self.media = [0, 0, 0, 0]
        # Requests that set maxOutputTokens, and the sum of what they set.
        self.bounded_requests = 0
        self.bounded_output_tokens = 0

    def add_counted(self, text_chars: int, bounded_requests: int, bound_sum: int) -> None:
        """What the fast path counted for its requests (validation.fast): their text
        characters, and how many set maxOutputTokens and to what in all."""
        self.text_chars += text_chars
        self.bounded_requests += bounded_requests
        self.bounded_output_tokens += bound_sum

    def add_media_types(self, counts: Mapping[object, int]) -> None:
        """Media parts counted by their MIME types (as spelled: `None` for none)."""
        for mime_type, parts in counts.items():
            self.media[_media_kind(mime_type)] += parts

    def add_request(self, request: Mapping[str, Any]) -> None:
        """One valid request as JSON values, in either spelling."""
        for content in request.get("contents") or ():
            self._json_parts(content)
        instruction = _either(request, "systemInstruction", "system_instruction")
        if isinstance(instruction, dict):
            self._json_parts(instruction)
        config = _either(request, "generationConfig", "generation_config")
        if isinstance(config, dict):
            bound = _either(config, "maxOutputTokens", "max_output_tokens")
            if bound:  # a valid int32 above zero, possibly written as a string
                self.bounded_requests += 1
                self.bounded_output_tokens += int(bound)

    def _json_parts(self, content: Any) -> None:
        parts = content.get("parts") if isinstance(content, dict) else None
        if isinstance(parts, dict):
            parts = (parts,)
        for part in parts or ():
            text = part.get("text")
            if text:
                self.text_chars += len(text)
                continue
            media = _either(part, "inlineData", "inline_data") or _either(
                part, "fileData", "file_data"
            )
            if isinstance(media, dict):
                self.media[_media_kind(_either(media, "mimeType", "mime_type"))] += 1

    def media_parts(self) -> dict[str, int]:
        return dict(zip(MEDIA_KINDS, self.media, strict=True))

    def to_json(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "text_characters": self.text_chars,
            "media_parts": self.media_parts(),
            "requests_with_max_output_tokens": self.bounded_requests,
            "max_output_tokens_sum": self.bounded_output_tokens,
        }

    def __eq__(self, other: object) -> bool:
        return isinstance(other, InputTally) and self.to_json() == other.to_json()

    def __repr__(self) -> str:
        return f"InputTally({self.to_json()})"


def _either(values: Mapping[str, Any], camel: str, snake: str) -> Any:
    value = values.get(camel)
    return values.get(snake) if value is None else value


@dataclass(frozen=True, slots=True)
class MediaAssumptions:
    """What a media part is taken to hold, since neither a URI nor inline bytes say."""

    video_seconds: float = 60.0
    audio_seconds: float = 60.0
    document_pages: int = 10

    def tokens_per_part(self) -> dict[str, int]:
        return {
            "image": IMAGE_TOKENS,
            "video": math.ceil(self.video_seconds * VIDEO_TOKENS_PER_SECOND),
            "audio": math.ceil(self.audio_seconds * AUDIO_TOKENS_PER_SECOND),
            "document": self.document_pages * DOCUMENT_PAGE_TOKENS,
        }

    def describe(self) -> str:
        return (
            f"media per the documented rates: an image {IMAGE_TOKENS} tokens, video "
            f"{VIDEO_TOKENS_PER_SECOND} tokens/s (a video part assumed {self.video_seconds:g} s), "
            f"audio {AUDIO_TOKENS_PER_SECOND} tokens/s (an audio part assumed "
            f"{self.audio_seconds:g} s), a PDF page {DOCUMENT_PAGE_TOKENS} tokens (a document "
            f"part assumed {self.document_pages} pages)"
        )


@dataclass(frozen=True, slots=True)
class FileEstimate:
    """A file's estimated tokens and cost range in USD at batch prices (None: no price)."""

    model: str
    requests: int
    text_tokens: int
    media_tokens: dict[str, int]
    input_tokens: int
    low_output_tokens: int
    high_output_tokens: int
    low_usd: float | None
    high_usd: float | None
    method: str
    unpriced_reason: str | None = None
    assumptions: MediaAssumptions = field(default_factory=MediaAssumptions)

    @property
    def priced(self) -> bool:
        return self.high_usd is not None

    def describe_range(self) -> str:
        if self.low_usd is None or self.high_usd is None:
            return f"unpriced ({self.unpriced_reason})"
        return f"${self.low_usd:,.4f} to ${self.high_usd:,.4f}"

    def text(self) -> str:
        """The estimate as a person reads it: figures, then how they were reached."""
        media = ", ".join(
            f"{kind} {tokens:,}" for kind, tokens in self.media_tokens.items() if tokens
        )
        return "\n".join(
            [
                f"estimate for {self.model}: {self.requests:,} requests, "
                f"about {self.input_tokens:,} input tokens "
                f"(text {self.text_tokens:,}{'; ' + media if media else ''}); "
                f"output {self.low_output_tokens:,} to {self.high_output_tokens:,} tokens; "
                f"cost {self.describe_range()} at batch prices",
                f"method: {self.method}",
            ]
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "requests": self.requests,
            "input_tokens": self.input_tokens,
            "text_tokens": self.text_tokens,
            "media_tokens": dict(self.media_tokens),
            "output_tokens": {"low": self.low_output_tokens, "high": self.high_output_tokens},
            "cost_usd": {"low": self.low_usd, "high": self.high_usd},
            "priced": self.priced,
            "unpriced_reason": self.unpriced_reason,
            "method": self.method,
        }


def estimate_file(
    tally: InputTally,
    model: str,
    prices: Mapping[str, ModelPrice],
    assumptions: MediaAssumptions | None = None,
) -> FileEstimate:
    """The tokens and the cost range of the requests `tally` summed, on `model`."""
    assumptions = assumptions or MediaAssumptions()
    per_part = assumptions.tokens_per_part()
    text_tokens = math.ceil(tally.text_chars / CHARS_PER_TOKEN)
    media_tokens = {
        kind: count * per_part[kind] for kind, count in zip(MEDIA_KINDS, tally.media, strict=True)
    }
    input_tokens = text_tokens + sum(media_tokens.values())
    ceiling = max_output_tokens(model)
    high_output = tally.bounded_output_tokens + (tally.requests - tally.bounded_requests) * ceiling
    low = estimate_cost(
        model, prompt_tokens=input_tokens, output_tokens=0, thoughts_tokens=0, prices=prices
    )
    high = estimate_cost(
        model,
        prompt_tokens=input_tokens,
        output_tokens=high_output,
        thoughts_tokens=0,
        prices=prices,
    )
    price = price_for(model, prices)
    priced_at = (
        f"${price.input_per_million:g} input and ${price.output_per_million:g} output per "
        "million tokens online, at the batch discount"
        if price is not None
        else "no price"
    )
    method = (
        f"text at about {CHARS_PER_TOKEN:g} characters per token (Gemini, English: "
        "https://ai.google.dev/gemini-api/docs/tokens); "
        f"{assumptions.describe()}; output low: none (input only), high: each request's "
        f"maxOutputTokens, else the model's maximum output ({ceiling:,}); prices: {priced_at}"
    )
    return FileEstimate(
        model=price_key(model),
        requests=tally.requests,
        text_tokens=text_tokens,
        media_tokens=media_tokens,
        input_tokens=input_tokens,
        low_output_tokens=0,
        high_output_tokens=high_output,
        low_usd=low.usd,
        high_usd=high.usd,
        method=method,
        unpriced_reason=high.reason,
        assumptions=assumptions,
    )
