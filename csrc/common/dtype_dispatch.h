// The dtypes each family runs on, as dispatch macros (run a lambda with
// scalar_t bound) and as type lists (explicit instantiations of the CPU
// loops, which live in their own translation units). A dispatch macro and its
// type list must name the same types: a missing instantiation fails to link.
#pragma once

#include <ATen/Dispatch.h>

#include <cstdint>

// Max pooling: torch's CPU set, the floating types, half, bfloat16 and the
// integer types but bool.
#define POOLING_EXT_DISPATCH_MAX_POOL_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_ALL_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
#define POOLING_EXT_FOR_EACH_MAX_POOL_TYPE(X) \
  X(uint8_t) X(int8_t) X(int16_t) X(int32_t) X(int64_t) X(float) X(double) X(at::Half) X(at::BFloat16)

// Gradients, and every op of the window-sum and fractional families but average pooling's forward.
#define POOLING_EXT_DISPATCH_FLOAT_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
#define POOLING_EXT_FOR_EACH_FLOAT_TYPE(X) X(float) X(double) X(at::Half) X(at::BFloat16)

// Average pooling's forward also runs on int64, as torch's CPU kernel.
#define POOLING_EXT_DISPATCH_AVG_POOL_TYPES(TYPE, NAME, ...) \
  AT_DISPATCH_FLOATING_TYPES_AND3(at::kLong, at::kHalf, at::kBFloat16, TYPE, NAME, __VA_ARGS__)
#define POOLING_EXT_FOR_EACH_AVG_POOL_TYPE(X) POOLING_EXT_FOR_EACH_FLOAT_TYPE(X) X(int64_t)

// The storage type of max pooling's saved window offsets (offset_t): one
// byte for windows of fewer than 255 taps, int32 otherwise.
#define POOLING_EXT_DISPATCH_OFFSET_TYPE(OFFSET_DTYPE, ...)                                                    \
  [&] {                                                                                                        \
    if ((OFFSET_DTYPE) == at::kByte) {                                                                         \
      using offset_t = uint8_t;                                                                                \
      return __VA_ARGS__();                                                                                    \
    }                                                                                                          \
    TORCH_CHECK((OFFSET_DTYPE) == at::kInt, "window_offset must be uint8 or int32, but got ", (OFFSET_DTYPE)); \
    using offset_t = int32_t;                                                                                  \
    return __VA_ARGS__();                                                                                      \
  }()
#define POOLING_EXT_FOR_EACH_OFFSET_TYPE(X, SCALAR) X(SCALAR, uint8_t) X(SCALAR, int32_t)
