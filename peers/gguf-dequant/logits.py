"""llama.cpp's own logits for a GGUF model: the oracle for onnx-steer's imported models.

Usage: /usr/bin/python3 logits.py FILE.gguf TOKENS OUT.f32 [GREEDY_STEPS [CONTROL_VECTOR.gguf:SCALE ...]]

TOKENS is a comma-separated list of token ids fed one at a time (KV cache, positions 0..n-1); with
GREEDY_STEPS, that many more tokens are chosen by argmax and fed back. Writes the logits after every fed
token (little-endian float32, [positions, vocab]) to OUT.f32 and prints the fed tokens, comma-separated.
Each CONTROL_VECTOR.gguf:SCALE is applied as llama.cpp's --control-vector-scaled applies it (see control_vector).
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


def load(path):
    """libllama with its C API declared, the model at path and a one-thread context: (llama, model, ctx)."""
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
    # int32_t llama_tokenize(const llama_vocab *, const char * text, int32_t text_len, llama_token * tokens,
    #                        int32_t n_tokens_max, bool add_special, bool parse_special)
    llama.llama_tokenize.restype = ctypes.c_int32
    llama.llama_tokenize.argtypes = [ctypes.c_void_p, ctypes.c_char_p, ctypes.c_int32, ctypes.c_void_p, ctypes.c_int32,
                                     ctypes.c_bool, ctypes.c_bool]
    # this build's name for llama.h's llama_apply_adapter_cvec (nm -D libllama.v0.4.0.so): int32_t
    # llama_set_adapter_cvec(llama_context *, const float * data, size_t len, int32_t n_embd, int32_t il_start,
    # int32_t il_end); data holds n_embd floats per layer starting from layer 1, layers il_start..il_end inclusive
    llama.llama_set_adapter_cvec.restype = ctypes.c_int32
    llama.llama_set_adapter_cvec.argtypes = [ctypes.c_void_p, ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int32,
                                             ctypes.c_int32, ctypes.c_int32]
    llama.llama_model_n_embd.argtypes = [ctypes.c_void_p]
    llama.llama_model_n_layer.argtypes = [ctypes.c_void_p]

    model = llama.llama_model_load_from_file(path.encode(), llama.llama_model_default_params())
    if not model:
        sys.exit("llama.cpp cannot load " + path)
    ctx = llama.llama_init_from_model(model, llama.llama_context_default_params())
    if not ctx:
        sys.exit("llama.cpp cannot make a context for " + path)
    # one thread: ggml's worker threads spin while they wait, which on a busy machine costs minutes per run
    llama.llama_set_n_threads(ctx, 1, 1)
    return llama, model, ctx


def control_vector(files, n_embd):
    """llama.cpp common's --control-vector-scaled FILE SCALE, for each (file, scale): direction.N (N >= 1, F32)
    times the scale, summed over files into one buffer of n_embd floats per layer from layer 1."""
    from dequant import GgufInitParams, gguf_library
    ggml = gguf_library()
    data = []
    for path, scale in files:
        ctx = ggml.gguf_init_from_file(path.encode(), GgufInitParams(True, None))
        if not ctx:
            sys.exit("llama.cpp cannot read " + path)
        with open(path, "rb") as f:
            for i in range(ggml.gguf_get_n_tensors(ctx)):
                name = ggml.gguf_get_tensor_name(ctx, i).decode()
                layer = int(name.split(".", 1)[1]) if name.startswith("direction.") else -1
                if layer < 1 or ggml.gguf_get_tensor_type(ctx, i) != 0:
                    sys.exit("%s: tensor %s is not an F32 direction.N with N >= 1" % (path, name))
                f.seek(ggml.gguf_get_data_offset(ctx) + ggml.gguf_get_tensor_offset(ctx, i))
                values = (ctypes.c_float * n_embd).from_buffer_copy(f.read(ggml.gguf_get_tensor_size(ctx, i)))
                data.extend([0.0] * max(0, n_embd * layer - len(data)))
                for j in range(n_embd):
                    data[n_embd * (layer - 1) + j] += values[j] * scale
    return data


def main(path, tokens, out_path, steps, vectors=()):
    llama, model, ctx = load(path)
    if vectors:
        n_embd = llama.llama_model_n_embd(model)
        data = control_vector(vectors, n_embd)
        buffer = (ctypes.c_float * len(data))(*data)
        # layers 1..n_layer, common's defaults for --control-vector-layer-range
        if llama.llama_set_adapter_cvec(ctx, buffer, len(data), n_embd, 1, llama.llama_model_n_layer(model)) != 0:
            sys.exit("llama_set_adapter_cvec refused the control vector")
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
    if len(sys.argv) < 4:
        sys.exit("usage: logits.py FILE.gguf TOKENS OUT.f32 [GREEDY_STEPS [CONTROL_VECTOR.gguf:SCALE ...]]")
    main(sys.argv[1], [int(t) for t in sys.argv[2].split(",")], sys.argv[3], int(sys.argv[4]) if len(sys.argv) > 4 else 0,
         [(v.rsplit(":", 1)[0], float(v.rsplit(":", 1)[1])) for v in sys.argv[5:]])
