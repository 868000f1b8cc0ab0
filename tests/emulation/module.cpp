// pooling_ext_emulation: the test extension that runs the CUDA kernels' code
// on the CPU (built by `tools/dev.sh test` and CI, never installed).
//
// Importing it (after pooling_ext) registers the emulated ops under the
// pooling_ext ops' own schemas in torch.ops.pooling_ext_emulation_int32 and
// torch.ops.pooling_ext_emulation_int64; it also offers a probe of the block
// interface (barrier, shared memory, warp collectives, atomics), the
// fixed-order block sum, and the record of which kernels ran.
#include <ATen/core/dispatch/Dispatcher.h>
#include <torch/extension.h>

#include <sstream>

#include "../../csrc/common/fixed_order_sum.h"
#include "block_emulator.h"
#include "emulated_ops.h"

namespace pooling_ext {
namespace emulation {

std::vector<LaunchRecord>& launch_records() {
  static std::vector<LaunchRecord> records;
  return records;
}

std::string short_type_name(std::string name) {
  name = name.substr(0, name.find('<'));
  const size_t scope = name.rfind("::");
  return scope == std::string::npos ? name : name.substr(scope + 2);
}

namespace {

// Defines every pooling_ext op's schema in a new namespace `ns` and registers
// the emulated kernels there.
template <bool kInt32Allowed>
void define_emulated_ops(const char* ns) {
  // (kept for the life of the process, as the libraries TORCH_LIBRARY makes)
  auto* library = new torch::Library(torch::Library::DEF, ns, std::nullopt, __FILE__, __LINE__);
  const std::string product = "pooling_ext::";
  for (const c10::OperatorName& name : c10::Dispatcher::singleton().getAllOpNames()) {
    if (name.name.rfind(product, 0) != 0) continue;
    std::ostringstream schema;
    schema << c10::Dispatcher::singleton().findSchemaOrThrow(name.name.c_str(), name.overload_name.c_str()).schema();
    library->def(schema.str().substr(product.size()).c_str());
  }
  register_max_pool<kInt32Allowed>(*library);
  register_fractional<kInt32Allowed>(*library);
  register_unpool<kInt32Allowed>(*library);
  register_window_sum<kInt32Allowed>(*library);
}

// A block program that uses every part of the block interface, so a test can
// check the emulator's: a barrier and shared memory (each thread reads its
// neighbour's value), the warp collectives, and an atomic sum per block.
struct InterfaceProbe {
  static constexpr int kThreads = 64;  // two warps
  struct State {
    float sum, max;
    int32_t swapped;
    bool positive;
    uint32_t ballot;
  };
  struct Shared {
    float values[kThreads];
  };

  const float* input;
  float *sums, *maxes, *neighbours, *block_totals;
  int32_t* swapped;
  int64_t* ballots;

  template <class Block>
  void run(Block& block) const {
    block.phase([&](const BlockThread& t, State& s, Shared& shared) {
      const float value = input[t.block * kThreads + t.thread];
      s = State{value, value, t.thread, value > 0.0f, 0u};
      shared.values[t.thread] = value;
      atomic_add(block_totals + t.block, value);
    });
    block.warp_sum(&State::sum);
    block.warp_max(&State::max);
    block.warp_shuffle_xor(&State::swapped, 5);
    block.warp_ballot(&State::positive, &State::ballot);
    block.barrier();
    block.phase([&](const BlockThread& t, State& s, Shared& shared) {
      const int64_t i = t.block * kThreads + t.thread;
      sums[i] = s.sum;
      maxes[i] = s.max;
      swapped[i] = s.swapped;
      ballots[i] = s.ballot;
      neighbours[i] = shared.values[(t.thread + 1) % kThreads];
    });
  }
};

std::vector<at::Tensor> run_interface_probe(const at::Tensor& values) {
  TORCH_CHECK(values.scalar_type() == at::kFloat && values.dim() == 1 && values.numel() % InterfaceProbe::kThreads == 0,
              "the probe takes a float32 vector of whole blocks of ", InterfaceProbe::kThreads);
  const at::Tensor input = values.contiguous();
  const int64_t blocks = input.numel() / InterfaceProbe::kThreads;
  at::Tensor sums = at::empty_like(input), maxes = at::empty_like(input), neighbours = at::empty_like(input);
  at::Tensor totals = at::zeros({blocks}, input.options());
  at::Tensor swapped = at::empty(input.sizes(), input.options().dtype(at::kInt));
  at::Tensor ballots = at::empty(input.sizes(), input.options().dtype(at::kLong));
  EmulatorLauncher<true>::blocks(
      blocks,
      InterfaceProbe{input.const_data_ptr<float>(), sums.mutable_data_ptr<float>(), maxes.mutable_data_ptr<float>(),
                     neighbours.mutable_data_ptr<float>(), totals.mutable_data_ptr<float>(),
                     swapped.mutable_data_ptr<int32_t>(), ballots.mutable_data_ptr<int64_t>()});
  return {sums, maxes, swapped, ballots, neighbours, totals};
}

}  // namespace
}  // namespace emulation
}  // namespace pooling_ext

PYBIND11_MODULE(pooling_ext_emulation, m) {
  using namespace pooling_ext::emulation;
  define_emulated_ops<true>("pooling_ext_emulation_int32");
  define_emulated_ops<false>("pooling_ext_emulation_int64");
  m.def("run_interface_probe", &run_interface_probe,
        "The block interface probe on float32 values (blocks of 64): warp sums, maxima, lanes swapped by xor 5, "
        "ballots of the positive values, each thread's neighbour through shared memory, atomic block totals");
  m.def("fixed_order_sum", &pooling_ext::fixed_order_sum<EmulatorLauncher<true>>,
        "FixedOrderSumProgram's sum of a float or double vector, as the GPU adds it");
  m.def(
      "launched_kernels",
      [] {
        std::vector<std::pair<std::string, bool>> launched;
        for (const LaunchRecord& r : launch_records()) launched.emplace_back(r.kernel, r.int32_allowed);
        return launched;
      },
      "(kernel, 32-bit indices allowed) of every emulated launch since the last clear");
  m.def("clear_launched_kernels", [] { launch_records().clear(); });
}
