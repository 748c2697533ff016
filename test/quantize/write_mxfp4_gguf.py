"""Writes an MXFP4 copy of an F32 GGUF with llama.cpp's `gguf` package: GGUFReader, gguf.quants, GGUFWriter.

usage: python3 write_mxfp4_gguf.py IN.gguf OUT.gguf
Every 2-D F32 weight whose rows are a multiple of 32 (norms aside) becomes MXFP4 as gguf.quants
quantizes it; everything else is copied. general.file_type is set to 38 (MOSTLY_MXFP4_MOE).
"""
import sys

import gguf
import gguf.quants

inp, out = sys.argv[1], sys.argv[2]
reader = gguf.GGUFReader(inp)
arch = reader.get_field("general.architecture").contents()
writer = gguf.GGUFWriter(out, arch)
for field in reader.fields.values():
    if field.name.startswith("GGUF.") or field.name in ("general.architecture", "general.file_type"):
        continue
    value_type = field.types[0]
    sub_type = field.types[-1] if value_type == gguf.GGUFValueType.ARRAY else None
    writer.add_key_value(field.name, field.contents(), value_type, sub_type=sub_type)
writer.add_file_type(38)
for t in reader.tensors:
    data = t.data
    is_matrix = len([d for d in t.shape if d > 1]) >= 2 and t.name.endswith(".weight") and "_norm" not in t.name
    if t.tensor_type == gguf.GGMLQuantizationType.F32 and is_matrix and data.shape[-1] % 32 == 0:
        q = gguf.quants.quantize(data, gguf.GGMLQuantizationType.MXFP4)
        writer.add_tensor(t.name, q, raw_dtype=gguf.GGMLQuantizationType.MXFP4)
    else:
        writer.add_tensor(t.name, data, raw_dtype=t.tensor_type)
writer.write_header_to_file()
writer.write_kv_data_to_file()
writer.write_tensors_to_file()
writer.close()
