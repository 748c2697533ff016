"""Quantizes GGUF files with llama.cpp's own llama_model_quantize (node-llama-cpp's libllama), through ctypes.

usage: python3 llama_quantize.py LIB_DIR IN OUT FTYPE[:pure-q8-embeddings] [IN OUT FTYPE ...]
FTYPE is a llama_ftype number; ':pure-q8-embeddings' sets pure = true and Q8_0 output and token
embeddings, which is what Peregrine's MXFP4 format writes (see src/quant/tensor-type-rules.ts).
The struct below is llama_model_quantize_params of the llama.h that node-llama-cpp 3.21.1 ships.
"""
import ctypes
import glob
import os
import sys

GGML_TYPE_Q8_0 = 8


class Params(ctypes.Structure):
    _fields_ = [
        ("nthread", ctypes.c_int32),
        ("ftype", ctypes.c_int32),
        ("output_tensor_type", ctypes.c_int32),
        ("token_embedding_type", ctypes.c_int32),
        ("allow_requantize", ctypes.c_bool),
        ("quantize_output_tensor", ctypes.c_bool),
        ("only_copy", ctypes.c_bool),
        ("pure", ctypes.c_bool),
        ("keep_split", ctypes.c_bool),
        ("dry_run", ctypes.c_bool),
        ("imatrix", ctypes.c_void_p),
        ("kv_overrides", ctypes.c_void_p),
        ("tt_overrides", ctypes.c_void_p),
        ("prune_layers", ctypes.c_void_p),
        ("max_buf_size", ctypes.c_size_t),
    ]


def load(lib_dir):
    # libllama needs ggml's libraries loaded first, globally
    for pattern in ("libggml-base*.so", "libggml.*so"):
        for path in glob.glob(os.path.join(lib_dir, pattern)):
            ctypes.CDLL(path, mode=ctypes.RTLD_GLOBAL)
    llama = ctypes.CDLL(glob.glob(os.path.join(lib_dir, "libllama*.so"))[0])
    llama.llama_model_quantize_default_params.restype = Params
    llama.llama_model_quantize.argtypes = [ctypes.c_char_p, ctypes.c_char_p, ctypes.POINTER(Params)]
    llama.llama_model_quantize.restype = ctypes.c_uint32
    llama.llama_backend_init()
    return llama


def main():
    llama = load(sys.argv[1])
    jobs = sys.argv[2:]
    for i in range(0, len(jobs), 3):
        inp, out, spec = jobs[i : i + 3]
        ftype, _, mode = spec.partition(":")
        p = llama.llama_model_quantize_default_params()
        p.nthread = 1
        p.ftype = int(ftype)
        if mode == "pure-q8-embeddings":
            p.pure = True
            p.output_tensor_type = GGML_TYPE_Q8_0
            p.token_embedding_type = GGML_TYPE_Q8_0
        if llama.llama_model_quantize(inp.encode(), out.encode(), ctypes.byref(p)) != 0:
            sys.exit(f"llama_model_quantize failed for {inp} -> {out}")


main()
