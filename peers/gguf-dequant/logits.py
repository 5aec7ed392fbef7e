"""llama.cpp's own logits for a GGUF model: the oracle for onnx-steer's imported models.

Usage: /usr/bin/python3 logits.py FILE.gguf TOKENS OUT.f32 [GREEDY_STEPS]

TOKENS is a comma-separated list of token ids fed one at a time (KV cache, positions 0..n-1); with
GREEDY_STEPS, that many more tokens are chosen by argmax and fed back. Writes the logits after every fed
token (little-endian float32, [positions, vocab]) to OUT.f32 and prints the fed tokens, comma-separated.
Loads libllama from node-llama-cpp's prebuilt CPU binaries (npm ci here first) through its C API only.
"""
import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
BINS = os.path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64")


class Params(ctypes.Structure):
    """llama_model_params / llama_context_params, opaque: returned by the *_default_params calls and passed
    back unchanged. Larger than either struct: a by-value return fills only its own bytes, and extra
    trailing bytes of a by-value stack argument are never read."""
    _fields_ = [("bytes", ctypes.c_ubyte * 1024)]


class Batch(ctypes.Structure):
    _fields_ = [("n_tokens", ctypes.c_int32), ("token", ctypes.c_void_p), ("embd", ctypes.c_void_p),
                ("pos", ctypes.c_void_p), ("n_seq_id", ctypes.c_void_p), ("seq_id", ctypes.c_void_p),
                ("logits", ctypes.c_void_p)]


def main(path, tokens, out_path, steps):
    ggml = ctypes.CDLL(os.path.join(BINS, "libggml.v0.4.0.so"), mode=ctypes.RTLD_GLOBAL)
    llama = ctypes.CDLL(os.path.join(BINS, "libllama.v0.4.0.so"))
    ggml.ggml_backend_load_all_from_path.argtypes = [ctypes.c_char_p]
    ggml.ggml_backend_load_all_from_path(BINS.encode())
    llama.llama_backend_init()
    llama.llama_model_default_params.restype = Params
    llama.llama_context_default_params.restype = Params
    llama.llama_model_load_from_file.restype = ctypes.c_void_p
    llama.llama_model_load_from_file.argtypes = [ctypes.c_char_p, Params]
    llama.llama_init_from_model.restype = ctypes.c_void_p
    llama.llama_init_from_model.argtypes = [ctypes.c_void_p, Params]
    llama.llama_set_n_threads.argtypes = [ctypes.c_void_p, ctypes.c_int32, ctypes.c_int32]
    llama.llama_model_get_vocab.restype = ctypes.c_void_p
    llama.llama_model_get_vocab.argtypes = [ctypes.c_void_p]
    llama.llama_vocab_n_tokens.argtypes = [ctypes.c_void_p]
    llama.llama_batch_get_one.restype = Batch
    llama.llama_batch_get_one.argtypes = [ctypes.c_void_p, ctypes.c_int32]
    llama.llama_decode.argtypes = [ctypes.c_void_p, Batch]
    llama.llama_get_logits_ith.restype = ctypes.POINTER(ctypes.c_float)
    llama.llama_get_logits_ith.argtypes = [ctypes.c_void_p, ctypes.c_int32]

    model = llama.llama_model_load_from_file(path.encode(), llama.llama_model_default_params())
    if not model:
        sys.exit("llama.cpp cannot load " + path)
    ctx = llama.llama_init_from_model(model, llama.llama_context_default_params())
    if not ctx:
        sys.exit("llama.cpp cannot make a context for " + path)
    # one thread: ggml's worker threads spin while they wait, which on a busy machine costs minutes per run
    llama.llama_set_n_threads(ctx, 1, 1)
    n_vocab = llama.llama_vocab_n_tokens(llama.llama_model_get_vocab(model))
    fed = []
    with open(out_path, "wb") as out:
        queue = list(tokens)
        while queue:
            token = queue.pop(0)
            one = (ctypes.c_int32 * 1)(token)
            if llama.llama_decode(ctx, llama.llama_batch_get_one(one, 1)) != 0:
                sys.exit("llama_decode failed at position %d" % len(fed))
            fed.append(token)
            row = (ctypes.c_float * n_vocab).from_address(ctypes.addressof(llama.llama_get_logits_ith(ctx, -1).contents))
            out.write(bytes(row))
            if not queue and steps > 0:
                steps -= 1
                queue.append(max(range(n_vocab), key=lambda i: row[i]))
    print(",".join(str(t) for t in fed))


if __name__ == "__main__":
    if len(sys.argv) not in (4, 5):
        sys.exit("usage: logits.py FILE.gguf TOKENS OUT.f32 [GREEDY_STEPS]")
    main(sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3], int(sys.argv[4]) if len(sys.argv) == 5 else 0)
