// The kernels compiled for one instruction set; see kernels-isa.inc and binding.gyp for the flags.
#define PEREGRINE_ISA_NS isa_scalar
#include "kernels-isa.inc"

namespace peregrine {
const KernelTable* scalarKernels() { return &isa_scalar::kTable; }
}  // namespace peregrine
