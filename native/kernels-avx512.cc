// The kernels compiled for one instruction set; see kernels-isa.inc and binding.gyp for the flags.
#define PEREGRINE_ISA_NS isa_avx512
#include "kernels-isa.inc"

namespace peregrine {
const KernelTable* avx512Kernels() { return &isa_avx512::kTable; }
}  // namespace peregrine
