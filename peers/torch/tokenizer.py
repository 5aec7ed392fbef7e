"""A Hugging Face tokenizer.json with one token per byte (GPT-2's byte symbols, BPE without merges)."""


def byte_symbols():
    """GPT-2's bytes_to_unicode: printable bytes stand for themselves, the others map to 256 + n."""
    symbols, extra = [], 256
    for b in range(256):
        printable = ord("!") <= b <= ord("~") or 0xA1 <= b <= 0xAC or b >= 0xAE
        symbols.append(b if printable else extra)
        extra += 0 if printable else 1
    return [chr(s) for s in symbols]


def byte_level(vocab_size):
    if vocab_size != 256:
        raise ValueError(f"the byte-level tokenizer has 256 tokens, not {vocab_size}")
    byte_level_step = {"type": "ByteLevel", "add_prefix_space": False, "trim_offsets": True, "use_regex": True}
    vocab = {symbol: i for i, symbol in enumerate(byte_symbols())}
    return {"version": "1.0", "truncation": None, "padding": None, "added_tokens": [], "normalizer": None,
            "pre_tokenizer": byte_level_step, "post_processor": None, "decoder": byte_level_step,
            "model": {"type": "BPE", "dropout": None, "unk_token": None, "continuing_subword_prefix": None,
                      "end_of_word_suffix": None, "fuse_unk": False, "byte_fallback": False,
                      "ignore_merges": False, "vocab": vocab, "merges": []}}
