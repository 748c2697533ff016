// Runtime instruction-set dispatch. Compiled without -m flags: only the chosen table's code runs
// AVX2 / AVX-512 instructions.
#include "kernels.h"

namespace peregrine {

Isa bestSupportedIsa() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool hasAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool hasAvx512 = hasAvx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vnni");
  if (hasAvx512 && __builtin_cpu_supports("avx512bf16")) return ISA_AVX512_BF16;
  if (hasAvx512) return ISA_AVX512;
  if (hasAvx2) return ISA_AVX2;
#endif
  return ISA_SCALAR;
}

const KernelTable* kernelsFor(Isa isa) {
  const Isa best = bestSupportedIsa();
  if (isa > best) isa = best;
  switch (isa) {
#if defined(__x86_64__)
    case ISA_AVX512_BF16: return avx512Bf16Kernels();
    case ISA_AVX512: return avx512Kernels();
    case ISA_AVX2: return avx2Kernels();
#endif
    default: return scalarKernels();
  }
}

}  // namespace peregrine
