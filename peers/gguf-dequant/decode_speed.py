"""llama.cpp's own decode speed on a GGUF model, through the C API with no per-token work beyond argmax.

Usage: /usr/bin/python3 decode_speed.py FILE.gguf TOKENS THREADS REPS

Each rep: a fresh KV cache, BOS decoded, then TOKENS greedy steps one token at a time; prints one line
per rep and finally "decode tok/s MEDIAN". Loads node-llama-cpp's prebuilt libllama (CPU) like logits.py.
"""
import ctypes
import statistics
import sys
import time

import numpy

from logits import load


def main(path, steps, threads, reps):
    llama, model, ctx = load(path)
    llama.llama_set_n_threads(ctx, threads, threads)
    llama.llama_get_memory.restype = ctypes.c_void_p
    llama.llama_get_memory.argtypes = [ctypes.c_void_p]
    llama.llama_memory_clear.argtypes = [ctypes.c_void_p, ctypes.c_bool]
    n_vocab = llama.llama_vocab_n_tokens(llama.llama_model_get_vocab(model))
    rates = []
    for rep in range(reps):
        llama.llama_memory_clear(llama.llama_get_memory(ctx), True)
        token = 1
        start = None
        for step in range(steps + 1):
            one = (ctypes.c_int32 * 1)(token)
            if llama.llama_decode(ctx, llama.llama_batch_get_one(one, 1)) != 0:
                sys.exit("llama_decode failed")
            row = (ctypes.c_float * n_vocab).from_address(ctypes.addressof(llama.llama_get_logits_ith(ctx, -1).contents))
            # numpy: a Python loop over a 32000-token vocabulary costs ~2 ms a step, a quarter of a 76M model's step
            token = int(numpy.ctypeslib.as_array(row).argmax())
            if step == 0:
                start = time.perf_counter()  # decode only: the BOS step is the prefill
        rate = steps / (time.perf_counter() - start)
        rates.append(rate)
        print("rep %d: %.1f tok/s" % (rep, rate), file=sys.stderr)
    print("decode tok/s %.1f" % statistics.median(rates))


if __name__ == "__main__":
    if len(sys.argv) != 5:
        sys.exit("usage: decode_speed.py FILE.gguf TOKENS THREADS REPS")
    main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]))
