// The sum of many values in an order fixed by their count alone (not by the
// device, the grid or timing), as a block program: each block adds up one
// chunk of kChunk consecutive values in a fixed tree, and launches repeat
// over the partial sums until one value is left. Deterministic, no atomics.
// (GeM's gradient with respect to p sums one partial per output this way.)
#pragma once

#include <ATen/ATen.h>
#include <ATen/Dispatch.h>

#include "block_program.h"

namespace pooling_ext {

template <typename acc_t>
struct FixedOrderSumProgram {
  static constexpr int kThreads = 256;
  static constexpr int kWarps = kThreads / kWarpSize;
  static constexpr int kValuesPerThread = 4;
  static constexpr int64_t kChunk = int64_t(kThreads) * kValuesPerThread;

  struct State {
    acc_t sum;
  };
  struct Shared {
    acc_t warp_sums[kWarps];
  };

  const acc_t* values;
  acc_t* sums;  // one per block
  int64_t count;

  template <class Block>
  POOL_HD void run(Block& block) const {
    // Each thread: its values, kThreads apart, in order.
    block.phase([&](const BlockThread& t, State& s, Shared&) {
      s.sum = acc_t(0);
      for (int k = 0; k < kValuesPerThread; ++k) {
        const int64_t i = t.block * kChunk + int64_t(k) * kThreads + t.thread;
        if (i < count) s.sum += values[i];
      }
    });
    block.warp_sum(&State::sum);
    block.phase([&](const BlockThread& t, State& s, Shared& shared) {
      if (t.lane() == 0) shared.warp_sums[t.warp()] = s.sum;
    });
    block.barrier();
    // The first warp adds up the warps' sums.
    block.phase([&](const BlockThread& t, State& s, Shared& shared) {
      s.sum = t.lane() < kWarps ? shared.warp_sums[t.lane()] : acc_t(0);
    });
    block.warp_sum(&State::sum);
    block.phase([&](const BlockThread& t, State& s, Shared&) {
      if (t.thread == 0) sums[t.block] = s.sum;
    });
  }
};

// The sum of `values` (1-d, contiguous, float or double) as a 0-d tensor.
template <class Launcher>
at::Tensor fixed_order_sum(at::Tensor values) {
  AT_DISPATCH_FLOATING_TYPES(values.scalar_type(), "fixed_order_sum", [&] {
    using Program = FixedOrderSumProgram<scalar_t>;
    while (values.numel() > 1) {
      const int64_t blocks = (values.numel() + Program::kChunk - 1) / Program::kChunk;
      at::Tensor sums = at::empty({blocks}, values.options());
      Launcher::blocks(blocks, FixedOrderSumProgram<scalar_t>{values.const_data_ptr<scalar_t>(),
                                                              sums.mutable_data_ptr<scalar_t>(), values.numel()});
      values = sums;
    }
  });
  return values.numel() == 1 ? values.reshape({}) : at::zeros({}, values.options());
}

}  // namespace pooling_ext
