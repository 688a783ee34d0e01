"""A tiny, randomly initialised BERT token classifier saved like a real LLMLingua-2 model.

The real weights cannot be fetched in tests; this model goes through the same
`from_pretrained` path (config, safetensors weights, a fast WordPiece tokenizer), so the
loading, chunking, classification and word-merging code runs for real. Its keep
probabilities are meaningless but fixed by the seed. The benchmark module loads this
file too (for a plumbing-only throughput line).
"""

from __future__ import annotations

from pathlib import Path

CORPUS = """\
The committee met on Tuesday to review the budget for the coming year and agreed that the
library would stay open in the evenings. Several members asked whether the new reading room
could be finished before the winter, and the chair promised a written answer next week.
Residents spoke about parking, noise from the night market and the state of the river path.
The council thanked the volunteers who cleaned the park, and the meeting closed at nine.
Retrieval augmented generation feeds passages from a search index into a language model,
which then answers the question using only what those passages say about the topic.
"""


def build_tiny_model(directory: Path, *, max_positions: int = 64, seed: int = 0) -> Path:
    """Save a tiny BERT token classifier (2 labels) and its WordPiece tokenizer in `directory`."""
    import torch
    from tokenizers import Tokenizer, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertForTokenClassification, BertTokenizerFast
    from transformers.utils import logging as hf_logging

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    wordpiece = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    wordpiece.normalizer = normalizers.BertNormalizer(lowercase=False)
    wordpiece.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    wordpiece.train_from_iterator(
        [CORPUS], trainers.WordPieceTrainer(vocab_size=400, special_tokens=specials, show_progress=False)
    )
    cls_id, sep_id = wordpiece.token_to_id("[CLS]"), wordpiece.token_to_id("[SEP]")
    wordpiece.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B [SEP]",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    tokenizer = BertTokenizerFast(
        tokenizer_object=wordpiece,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=max_positions,
    )
    tokenizer.save_pretrained(directory)
    config = BertConfig(
        vocab_size=wordpiece.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions,
        num_labels=2,
    )
    torch.manual_seed(seed)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()  # no "Writing model shards" bar in test or bench output
    try:
        BertForTokenClassification(config).save_pretrained(directory)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return directory


def build_tiny_xlmr(directory: Path, *, max_positions: int = 64, seed: int = 0) -> Path:
    """The same with the other published architecture: XLM-RoBERTa and a Unigram
    (SentencePiece-style) tokenizer, as in llmlingua-2-xlm-roberta-large-meetingbank."""
    import torch
    from tokenizers import Tokenizer, models, pre_tokenizers, processors, trainers
    from transformers import XLMRobertaConfig, XLMRobertaForTokenClassification, XLMRobertaTokenizerFast
    from transformers.utils import logging as hf_logging

    directory.mkdir(parents=True, exist_ok=True)
    specials = ["<s>", "<pad>", "</s>", "<unk>", "<mask>"]
    unigram = Tokenizer(models.Unigram())
    unigram.pre_tokenizer = pre_tokenizers.Metaspace()
    unigram.train_from_iterator(
        [CORPUS],
        trainers.UnigramTrainer(
            vocab_size=300, special_tokens=specials, unk_token="<unk>", show_progress=False
        ),
    )
    bos, eos = unigram.token_to_id("<s>"), unigram.token_to_id("</s>")
    unigram.post_processor = processors.TemplateProcessing(
        single="<s> $A </s>", pair="<s> $A </s> </s> $B </s>", special_tokens=[("<s>", bos), ("</s>", eos)]
    )
    tokenizer = XLMRobertaTokenizerFast(
        tokenizer_object=unigram,
        bos_token="<s>",
        eos_token="</s>",
        sep_token="</s>",
        cls_token="<s>",
        unk_token="<unk>",
        pad_token="<pad>",
        mask_token="<mask>",
        model_max_length=max_positions,
    )
    tokenizer.save_pretrained(directory)
    config = XLMRobertaConfig(
        vocab_size=unigram.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=max_positions + 2,  # RoBERTa positions start after the padding index
        pad_token_id=unigram.token_to_id("<pad>"),
        bos_token_id=bos,
        eos_token_id=eos,
        num_labels=2,
    )
    torch.manual_seed(seed)
    bars = hf_logging.is_progress_bar_enabled()
    hf_logging.disable_progress_bar()
    try:
        XLMRobertaForTokenClassification(config).save_pretrained(directory)
    finally:
        if bars:
            hf_logging.enable_progress_bar()
    return directory
