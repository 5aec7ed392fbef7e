"""llama.cpp's own dequantisation of every tensor in a GGUF file: the oracle for onnx-steer's readers.

Usage: /usr/bin/python3 dequant.py FILE.gguf OUT_DIR

Loads libggml-base.so from node-llama-cpp's prebuilt binaries (npm ci here first) and uses only its API:
gguf_init_from_file parses the file (not onnx-steer's parser), and each type's ggml_type_traits.to_float
(ggml-quants.c's reference dequantize_row_*) decodes the tensor. Writes OUT_DIR/N.f32 (little-endian
float32, ggml order) for tensor N and OUT_DIR/tensors.tsv with one line per tensor: N, name, type, count.
"""
import ctypes
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
LIB = os.path.join(HERE, "node_modules", "@node-llama-cpp", "linux-x64", "bins", "linux-x64", "libggml-base.so")


class GgufInitParams(ctypes.Structure):
    _fields_ = [("no_alloc", ctypes.c_bool), ("ctx", ctypes.c_void_p)]


TO_FLOAT = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p, ctypes.c_int64)


class TypeTraits(ctypes.Structure):
    _fields_ = [
        ("type_name", ctypes.c_char_p),
        ("blck_size", ctypes.c_int64),
        ("blck_size_interleave", ctypes.c_int64),
        ("type_size", ctypes.c_size_t),
        ("is_quantized", ctypes.c_bool),
        ("to_float", ctypes.c_void_p),
        ("from_float_ref", ctypes.c_void_p),
    ]


def gguf_library():
    """libggml-base with the signatures of the gguf_* reader functions both peers call."""
    ggml = ctypes.CDLL(LIB)
    ggml.gguf_init_from_file.restype = ctypes.c_void_p
    ggml.gguf_init_from_file.argtypes = [ctypes.c_char_p, GgufInitParams]
    for name, restype in [("gguf_get_n_tensors", ctypes.c_int64), ("gguf_get_data_offset", ctypes.c_size_t)]:
        getattr(ggml, name).restype = restype
        getattr(ggml, name).argtypes = [ctypes.c_void_p]
    for name, restype in [("gguf_get_tensor_name", ctypes.c_char_p), ("gguf_get_tensor_type", ctypes.c_int),
                          ("gguf_get_tensor_offset", ctypes.c_size_t), ("gguf_get_tensor_size", ctypes.c_size_t)]:
        getattr(ggml, name).restype = restype
        getattr(ggml, name).argtypes = [ctypes.c_void_p, ctypes.c_int64]
    return ggml


def main(path, out_dir):
    ggml = gguf_library()
    ggml.ggml_get_type_traits.restype = ctypes.POINTER(TypeTraits)
    ggml.ggml_get_type_traits.argtypes = [ctypes.c_int]

    ctx = ggml.gguf_init_from_file(path.encode(), GgufInitParams(True, None))
    if not ctx:
        sys.exit("llama.cpp cannot read " + path)
    os.makedirs(out_dir, exist_ok=True)
    data_offset = ggml.gguf_get_data_offset(ctx)
    lines = []
    with open(path, "rb") as f:
        for i in range(ggml.gguf_get_n_tensors(ctx)):
            traits = ggml.ggml_get_type_traits(ggml.gguf_get_tensor_type(ctx, i)).contents
            size = ggml.gguf_get_tensor_size(ctx, i)
            count = size // traits.type_size * traits.blck_size
            f.seek(data_offset + ggml.gguf_get_tensor_offset(ctx, i))
            raw = f.read(size)
            if traits.type_name == b"f32":
                values = raw
            else:
                source = ctypes.create_string_buffer(raw, size)
                target = (ctypes.c_float * count)()
                TO_FLOAT(traits.to_float)(ctypes.addressof(source), ctypes.addressof(target), count)
                values = bytes(target)
            with open(os.path.join(out_dir, "%d.f32" % i), "wb") as out:
                out.write(values)
            lines.append("%d\t%s\t%s\t%d\n" % (i, ggml.gguf_get_tensor_name(ctx, i).decode(),
                                              traits.type_name.decode(), count))
    with open(os.path.join(out_dir, "tensors.tsv"), "w") as out:
        out.writelines(lines)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: dequant.py FILE.gguf OUT_DIR")
    main(sys.argv[1], sys.argv[2])
