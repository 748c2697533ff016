"""Quantizes float32 rows with the `gguf` package's numpy quantizers (llama.cpp's gguf-py).

usage: python3 gguf_quants.py IN.f32 NUM_COLS OUT_PREFIX TYPE [TYPE ...]
Writes OUT_PREFIX.TYPE.bin with gguf.quants.quantize(rows, GGMLQuantizationType[TYPE]).
"""
import sys

import gguf
import gguf.quants
import numpy as np

src, num_cols, prefix = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rows = np.fromfile(src, dtype="<f4").reshape(-1, num_cols)
for name in sys.argv[4:]:
    q = gguf.quants.quantize(rows, gguf.GGMLQuantizationType[name])
    q.tofile(f"{prefix}.{name}.bin")
