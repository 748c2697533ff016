// Runtime instruction-set dispatch. Compiled without -m flags: only the chosen table's code runs
// AVX2 / AVX-512 instructions.
#include "kernels.h"

#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
#endif

namespace peregrine {

#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
namespace {

/**
 * Linux hands out the AMX tile state only to processes that ask for it (once; it then holds for
 * every thread of the process). llama.cpp asks the same way, so both can share a process.
 */
bool requestAmxPermission() {
#if defined(__linux__) && defined(__x86_64__)
  constexpr long kArchReqXcompPerm = 0x1023;
  constexpr long kXfeatureXtiledata = 18;
  return syscall(SYS_arch_prctl, kArchReqXcompPerm, kXfeatureXtiledata) == 0;
#else
  return false;
#endif
}

}  // namespace
#endif

Isa bestSupportedIsa() {
#if defined(__x86_64__) && (defined(__GNUC__) || defined(__clang__))
  __builtin_cpu_init();
  const bool hasAvx2 = __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma") && __builtin_cpu_supports("f16c");
  const bool hasAvx512 = hasAvx2 && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
                         __builtin_cpu_supports("avx512vl") && __builtin_cpu_supports("avx512dq") &&
                         __builtin_cpu_supports("avx512vnni");
  const bool hasBf16 = hasAvx512 && __builtin_cpu_supports("avx512bf16");
  static const bool hasAmx = hasBf16 && __builtin_cpu_supports("amx-tile") && __builtin_cpu_supports("amx-int8") && __builtin_cpu_supports("amx-bf16") && __builtin_cpu_supports("avx512vbmi") && requestAmxPermission();
  if (hasAmx) return ISA_AMX;
  if (hasBf16) return ISA_AVX512_BF16;
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
    case ISA_AMX: return amxKernels();
    case ISA_AVX512_BF16: return avx512Bf16Kernels();
    case ISA_AVX512: return avx512Kernels();
    case ISA_AVX2: return avx2Kernels();
#endif
    default: return scalarKernels();
  }
}

}  // namespace peregrine
