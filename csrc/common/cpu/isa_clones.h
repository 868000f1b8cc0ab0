// POOLING_EXT_ISA_CLONES: compile a function (or function template) for
// AVX-512 (x86-64-v4), AVX2 (x86-64-v3) and baseline x86-64, the best picked
// at load time for the CPU it runs on (GCC target_clones). The binary stays
// portable: no -march flag anywhere. Inner loops carry it; what they inline
// is compiled for the clone's ISA when marked POOLING_EXT_ALWAYS_INLINE.
// POOLING_EXT_NO_ISA_CLONES (the sanitizer build) compiles baseline code only.
#pragma once

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__) && !defined(POOLING_EXT_NO_ISA_CLONES)
#define POOLING_EXT_ISA_CLONES __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define POOLING_EXT_ISA_CLONES
#endif

// GCC does not inline an ordinary function into a clone compiled for another
// -march (the call stays, and the callee runs baseline code, element by
// element); helpers that clones call must be always_inline.
// Lambdas that clones call likewise, the macro after their parameter list.
#if defined(__GNUC__)
#define POOLING_EXT_ALWAYS_INLINE inline __attribute__((always_inline))
#define POOLING_EXT_LAMBDA_ALWAYS_INLINE __attribute__((always_inline))
#else
#define POOLING_EXT_ALWAYS_INLINE inline
#define POOLING_EXT_LAMBDA_ALWAYS_INLINE
#endif

namespace pooling_ext {
namespace cpu {

// Which of the clones runs on this CPU ("avx512", "avx2", "sse2", ...), for
// pooling_ext.info().
const char* selected_isa();

}  // namespace cpu
}  // namespace pooling_ext
