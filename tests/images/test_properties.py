"""Property tests: arbitrary bytes and block shapes never make image handling raise."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from headroom_core.images import _codec, compress_image_block, estimate_block_tokens
from headroom_core.images._compress import FALLBACK_TOKENS
from tests.support import make_ctx

from .conftest import SCREENSHOT, anthropic_block, openai_block

_PNG = SCREENSHOT.read_bytes()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(
    cut=st.integers(min_value=0, max_value=len(_PNG)),
    flip=st.integers(min_value=0, max_value=len(_PNG) - 1),
    mime=st.sampled_from(["image/png", "image/jpeg", "image/gif", "image/webp", "application/pdf"]),
    anthropic=st.booleans(),
)
def test_damaged_images_never_raise(memory_config, cut, flip, mime, anthropic):
    data = bytearray(_PNG[:cut] or b"\x00")
    data[flip % len(data)] ^= 0xFF
    block = anthropic_block(bytes(data), mime) if anthropic else openai_block(bytes(data), mime)
    model = "claude-3-5-sonnet" if anthropic else "gpt-4o"
    assert estimate_block_tokens(block, model) > 0
    out = compress_image_block(block, model=model, ctx=make_ctx(config=memory_config, model=model))
    if out is not None and out.strategy == "passthrough":
        assert out.block == block


@settings(max_examples=60, deadline=None)
@given(
    block=st.dictionaries(
        st.sampled_from(["type", "image_url", "source", "base64", "url", "data", "detail", "mime_type"]),
        st.one_of(
            st.none(),
            st.text(max_size=20),
            st.sampled_from(["image", "image_url", "input_image", "base64", "data:image/png;base64,AAAA"]),
            st.dictionaries(
                st.sampled_from(["type", "url", "data", "media_type", "detail"]), st.text(max_size=30)
            ),
        ),
    )
)
def test_arbitrary_blocks_are_counted(block):
    """Any dict is priced without raising. A block with no image that can be sized costs the
    documented fallback (OpenAI's low-detail price), never 0 or a guess; one that can be
    sized costs something."""
    tokens = estimate_block_tokens(block, "gpt-4o")
    ref = _codec.locate(block)
    sized = ref is not None and ref.b64 is not None and _codec.header_info(ref.b64) is not None
    if sized:
        assert tokens > 0
    else:
        assert tokens == FALLBACK_TOKENS
