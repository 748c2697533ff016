// The kernels compiled for one instruction set; see kernels-isa.inc and binding.gyp for the flags.
#define PEREGRINE_ISA_NS isa_avx2
#include "kernels-isa.inc"

namespace peregrine {
const KernelTable* avx2Kernels() { return &isa_avx2::kTable; }
}  // namespace peregrine
