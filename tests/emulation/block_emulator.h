// The CPU emulator of the CUDA kernels (test code: not part of the extension
// users install). It runs a block program (csrc/common/block_program.h) one
// block at a time: each step for every thread of the block in turn, a State
// kept per thread, the block's Shared memory filled with a garbage pattern
// first (the GPU's starts with unknown contents), warp collectives across
// each warp's 32 lanes together in the butterfly order the GPU uses, and
// atomics applied in thread order. A launcher built on it replaces
// CudaLauncher in the families' launch code, so the CUDA code's index
// arithmetic, tiling and cooperation are tested without a GPU.
#pragma once

#include <c10/util/Exception.h>
#include <c10/util/TypeIndex.h>

#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "../../csrc/common/block_program.h"

namespace pooling_ext {
namespace emulation {

// Which kernels the emulator ran, and in which mode (32-bit index arithmetic
// allowed, or 64-bit forced): what the coverage test checks.
struct LaunchRecord {
  std::string kernel;
  bool int32_allowed;
};
std::vector<LaunchRecord>& launch_records();

// The name of a program's kernel: its body's for element-wise launches.
template <class Program>
struct KernelOf {
  using type = Program;
};
template <class Body>
struct KernelOf<ElementwiseProgram<Body>> {
  using type = Body;
};

// "pooling_ext::MaxPoolForwardBody<float, unsigned char, int>" -> "MaxPoolForwardBody".
std::string short_type_name(std::string name);

template <class Program>
std::string kernel_name() {
  return short_type_name(std::string(c10::util::get_fully_qualified_type_name<typename KernelOf<Program>::type>()));
}

template <class Program>
class EmulatedBlock {
 public:
  using State = typename Program::State;
  using Shared = typename Program::Shared;
  static_assert(Program::kThreads % kWarpSize == 0, "a block program runs whole warps");
  static_assert(std::is_trivially_copyable_v<Shared>, "shared memory holds plain data");

  EmulatedBlock(int64_t block, int64_t grid_blocks)
      : block_(block), grid_blocks_(grid_blocks), states_(Program::kThreads) {
    std::memset(static_cast<void*>(&shared_), 0xA5, sizeof(shared_));
  }

  template <class Phase>
  void phase(const Phase& f) {
    for (int32_t t = 0; t < Program::kThreads; ++t) f(BlockThread{block_, t, grid_blocks_}, states_[t], shared_);
  }
  // Each phase already ran for every thread before the next starts.
  void barrier() {}

  template <typename T>
  void warp_sum(T State::*field) {
    butterfly(field, [](T a, T b) { return a + b; });
  }
  template <typename T>
  void warp_max(T State::*field) {
    butterfly(field, [](T a, T b) { return larger_of(a, b); });
  }
  template <typename T>
  void warp_shuffle_xor(T State::*field, int lane_mask) {
    for (int32_t warp = 0; warp < Program::kThreads; warp += kWarpSize) {
      T values[kWarpSize];
      for (int32_t lane = 0; lane < kWarpSize; ++lane) values[lane] = states_[warp + lane].*field;
      for (int32_t lane = 0; lane < kWarpSize; ++lane) states_[warp + lane].*field = values[lane ^ lane_mask];
    }
  }
  void warp_ballot(bool State::*predicate, uint32_t State::*mask) {
    for (int32_t warp = 0; warp < Program::kThreads; warp += kWarpSize) {
      uint32_t bits = 0;
      for (int32_t lane = 0; lane < kWarpSize; ++lane) {
        if (states_[warp + lane].*predicate) bits |= uint32_t(1) << lane;
      }
      for (int32_t lane = 0; lane < kWarpSize; ++lane) states_[warp + lane].*mask = bits;
    }
  }

 private:
  // Every lane combines its value with lane ^ round's, rounds 16, 8, 4, 2, 1:
  // the GPU's shuffle butterfly, so each lane gets the same bits as there.
  template <typename T, class Combine>
  void butterfly(T State::*field, const Combine& combine) {
    for (int32_t warp = 0; warp < Program::kThreads; warp += kWarpSize) {
      T values[kWarpSize];
      for (int32_t lane = 0; lane < kWarpSize; ++lane) values[lane] = states_[warp + lane].*field;
      for (int32_t round = kWarpSize / 2; round > 0; round /= 2) {
        T next[kWarpSize];
        for (int32_t lane = 0; lane < kWarpSize; ++lane) {
          next[lane] = combine(values[lane], values[warp_lane_partner(lane, round)]);
        }
        std::memcpy(values, next, sizeof(values));
      }
      for (int32_t lane = 0; lane < kWarpSize; ++lane) states_[warp + lane].*field = values[lane];
    }
  }

  int64_t block_;
  int64_t grid_blocks_;
  std::vector<State> states_;
  Shared shared_;
};

// CudaLauncher's stand-in. kAllowInt32Index as on the GPU, or false to force
// the 64-bit index path that the GPU takes only for tensors of over 2^31
// elements. A grid of a few resident blocks, so grid-stride loops wrap.
template <bool kInt32Allowed>
struct EmulatorLauncher {
  static constexpr bool kAllowInt32Index = kInt32Allowed;
  static constexpr int64_t kResidentBlocks = 3;

  template <class Program>
  static void blocks(int64_t count, const Program& program) {
    launch_records().push_back(LaunchRecord{kernel_name<Program>(), kInt32Allowed});
    for (int64_t b = 0; b < count; ++b) {
      EmulatedBlock<Program> block(b, count);
      program.run(block);
    }
  }

  template <class Body>
  static void elementwise(int64_t count, const Body& body) {
    blocks(elementwise_blocks(count, kResidentBlocks), ElementwiseProgram<Body>{body, count});
  }
};

}  // namespace emulation
}  // namespace pooling_ext
