// The kernels compiled for one instruction set; see kernels-isa.inc and binding.gyp for the flags.
#define PEREGRINE_ISA_NS isa_amx
#include "kernels-isa.inc"

namespace peregrine {
const KernelTable* amxKernels() { return &isa_amx::kTable; }
}  // namespace peregrine
