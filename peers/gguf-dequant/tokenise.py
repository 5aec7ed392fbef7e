"""llama.cpp's own tokenization: the oracle for the tokenizer.json files onnx-steer's importer writes.

Usage: /usr/bin/python3 tokenise.py FILE.gguf TEXTS.json

TEXTS.json is a JSON array of strings. Prints a JSON array with, for each string, the ids llama_tokenize
gives it with add_special and parse_special (BOS/EOS as the vocabulary says, special tokens in the text
matched whole), the way llama.cpp tokenizes a prompt.
"""
import ctypes
import json
import sys

from logits import load


def main(path, texts_path):
    llama, model, _ = load(path)
    vocab = llama.llama_model_get_vocab(model)
    with open(texts_path, encoding="utf-8") as f:
        texts = json.load(f)
    out = []
    for text in texts:
        raw = text.encode("utf-8")
        room = len(raw) + 8
        ids = (ctypes.c_int32 * room)()
        n = llama.llama_tokenize(vocab, raw, len(raw), ids, room, True, True)
        if n < 0:
            sys.exit("llama_tokenize needs %d slots for %r" % (-n, text))
        out.append(list(ids[:n]))
    print(json.dumps(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: tokenise.py FILE.gguf TEXTS.json")
    main(sys.argv[1], sys.argv[2])
