"""Measure APPROXIMATION_FACTORS in headroom_core/_tokenizer.py against real tokenizers.

The vocabularies come from package wheels on the index (fetched by the developer, never at
run time):

    pip download --no-deps anthropic==0.34.2 llama-models==0.3.0 mistral-common==1.13.1
    # unzip them, then:
    python scripts/calibrate_tokenizers.py \
        --claude x_anthropic/anthropic/tokenizer.json \
        --llama3 x_llama_models/llama_models/llama3/tokenizer.model \
        --tekken x_mistral_common/mistral_common/data/tekken_240911.json

It prints, per family, tokens of the real tokenizer per o200k_base token over the real
corpus in tests/fixtures (JSON, logs, code, diffs, search output, prose), each file weighted
equally, plus the per-file spread.
"""

from __future__ import annotations

import argparse
import base64
import statistics
from pathlib import Path

import orjson
import tiktoken

from headroom_core import get_tokenizer

FIXTURES = Path(__file__).resolve().parents[1] / "tests" / "fixtures"
TEXT_SUFFIXES = {".json", ".log", ".go", ".rs", ".js", ".diff", ".txt"}
LLAMA3_PATTERN = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)


def _llama3(path: str):
    ranks = {}
    for line in Path(path).read_bytes().splitlines():
        if line:
            token, rank = line.split()
            ranks[base64.b64decode(token)] = int(rank)
    enc = tiktoken.Encoding("llama3", pat_str=LLAMA3_PATTERN, mergeable_ranks=ranks, special_tokens={})
    return lambda text: len(enc.encode_ordinary(text))


def _tekken(path: str):
    data = orjson.loads(Path(path).read_bytes())
    config = data["config"]
    n_special = config.get("default_num_special_tokens", 1000)
    usable = config["default_vocab_size"] - n_special
    ranks = {base64.b64decode(v["token_bytes"]): v["rank"] for v in data["vocab"][:usable]}
    enc = tiktoken.Encoding("tekken", pat_str=config["pattern"], mergeable_ranks=ranks, special_tokens={})
    return lambda text: len(enc.encode_ordinary(text))


def _claude(path: str):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(path)
    return lambda text: len(tok.encode(text, add_special_tokens=False).ids)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--claude")
    parser.add_argument("--llama3")
    parser.add_argument("--tekken")
    args = parser.parse_args()
    families = {}
    if args.claude:
        families["claude"] = _claude(args.claude)
    if args.llama3:
        families["llama"] = _llama3(args.llama3)
    if args.tekken:
        families["mistral"] = _tekken(args.tekken)
    base = get_tokenizer("gpt-4o")
    files = sorted(p for p in FIXTURES.iterdir() if p.suffix in TEXT_SUFFIXES)
    for family, count in families.items():
        ratios = []
        for path in files:
            text = path.read_text(encoding="utf-8", errors="replace")
            ratios.append(count(text) / base.count(text))
        print(
            f"{family}: mean {statistics.mean(ratios):.3f} over {len(files)} files "
            f"(min {min(ratios):.3f}, max {max(ratios):.3f})"
        )


if __name__ == "__main__":
    main()
