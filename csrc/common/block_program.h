// Kernels as block programs.
//
// A kernel is a program that a grid of blocks of Program::kThreads threads
// runs. Its `run(block)` is a sequence of steps over the threads of one block:
//
//   block.phase(f)                      every thread runs f(thread, state, shared)
//   block.barrier()                     no thread goes on before every thread of the block got here
//   block.warp_sum(&State::x)           warp collectives: each thread's state.x becomes the sum
//   block.warp_max(&State::x)             (or maximum) over the 32 lanes of its warp, or
//   block.warp_shuffle_xor(&State::x, m)  the x of lane (lane ^ m), or
//   block.warp_ballot(&State::p, &State::mask)   the bits of the lanes whose p is true
//
// `State` is what one thread keeps from step to step (registers on the GPU,
// value-initialised); `Shared` is the block's shared memory (uninitialised).
// On CUDA (common/cuda/block_launch.cuh) each thread runs the steps as its own
// straight-line code, a barrier is __syncthreads() and the collectives are
// warp shuffles. The test emulator (tests/emulation/) runs each step for every
// thread of the block in turn and keeps a State per thread, so programs that
// tile through shared memory or cooperate across a warp are tested on machines
// without a GPU. For both to agree, a program keeps to these rules:
//   - threads exchange data only through Shared across a barrier, or through
//     a warp collective (a phase that reads what another thread of the same
//     phase writes is a race on the GPU);
//   - every thread reaches every step: conditions live inside phases (a phase
//     may return early), never around steps;
//   - kThreads is a multiple of 32 (whole warps);
//   - collectives combine lanes in the butterfly order of warp_lane_partner,
//     so floating-point results are the same bits on both.
// Atomics go through atomic_add / atomic_max below: on the GPU the hardware's,
// in the emulator plain updates applied in thread order.
//
// Per-element bodies (the reference every faster kernel is checked against)
// are the one-phase case: ElementwiseProgram.
#pragma once

#include <cstdint>

#include "host_device.h"

namespace pooling_ext {

inline constexpr int kWarpSize = 32;

// Where a thread is: its block in the grid, its index in the block.
struct BlockThread {
  int64_t block;        // [0, grid_blocks)
  int32_t thread;       // [0, Program::kThreads)
  int64_t grid_blocks;  // blocks in the grid

  POOL_HD int32_t lane() const { return thread % kWarpSize; }
  POOL_HD int32_t warp() const { return thread / kWarpSize; }
};

// The butterfly of the warp collectives: at round r (r = 16, 8, 4, 2, 1)
// lane l combines its value with lane l ^ r's.
POOL_HD int32_t warp_lane_partner(int32_t lane, int32_t round) { return lane ^ round; }

// The larger of two values (a NaN in `a` stays; a NaN in `b` does not take
// over: collectives over NaN-free data only).
template <typename T>
POOL_HD T larger_of(T a, T b) {
  return b > a ? b : a;
}

// The one-phase program of a per-element body: thread i of the grid runs
// body(i), body(i + grid threads), ... below `count` (a grid-stride loop, so a
// grid of a few blocks per multiprocessor covers any count).
template <class Body>
struct ElementwiseProgram {
  static constexpr int kThreads = 256;
  struct State {};
  struct Shared {};

  Body body;
  int64_t count;

  template <class Block>
  POOL_HD void run(Block& block) const {
    block.phase([&](const BlockThread& t, State&, Shared&) {
      const int64_t step = t.grid_blocks * kThreads;
      for (int64_t i = t.block * kThreads + t.thread; i < count; i += step) body(i);
    });
  }
};

// Blocks for an element-wise launch: enough to give every thread one
// element, at most `resident_blocks` (the grid-stride loop covers the rest).
inline int64_t elementwise_blocks(int64_t count, int64_t resident_blocks) {
  constexpr int64_t kThreads = 256;
  const int64_t needed = (count + kThreads - 1) / kThreads;
  return needed < resident_blocks ? needed : resident_blocks;
}

// Atomic read-modify-write of one value.
template <typename T>
POOL_HD void atomic_add(T* address, T value) {
#if defined(__CUDA_ARCH__)
  atomicAdd(address, value);
#else
  *address += value;  // the emulator runs one thread at a time
#endif
}

POOL_HD void atomic_max(unsigned long long* address, unsigned long long value) {
#if defined(__CUDA_ARCH__)
  atomicMax(address, value);
#else
  if (*address < value) *address = value;  // the emulator runs one thread at a time
#endif
}

}  // namespace pooling_ext
