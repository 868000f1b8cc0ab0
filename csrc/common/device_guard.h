// OnDeviceOfFirstTensor<kernel>::call: `kernel` with the current device set
// to its first tensor argument's (CUDA kernels launch on the current device
// and stream), restored after. The registration table wraps every CUDA
// kernel in it, so the kernels themselves carry no guard.
#pragma once

#include <ATen/ATen.h>
#include <c10/core/DeviceGuard.h>

#include <optional>
#include <type_traits>

namespace pooling_ext {

template <typename... Args>
std::optional<c10::Device> first_tensor_device(const Args&... args) {
  std::optional<c10::Device> device;
  const auto take = [&](const auto& arg) {
    if constexpr (std::is_same_v<std::decay_t<decltype(arg)>, at::Tensor>) {
      if (!device.has_value()) device = arg.device();
    }
  };
  (take(args), ...);
  return device;
}

template <auto kKernel>
struct OnDeviceOfFirstTensor;

template <typename Result, typename... Args, Result (*kKernel)(Args...)>
struct OnDeviceOfFirstTensor<kKernel> {
  static Result call(Args... args) {
    const c10::OptionalDeviceGuard guard(first_tensor_device(args...));
    return kKernel(args...);
  }
};

}  // namespace pooling_ext
