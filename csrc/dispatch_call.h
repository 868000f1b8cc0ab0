// Typed handles of the pooling_ext ops, for calls through the dispatcher
// (below the autograd key from autograd Functions, or from the C++ API).
#pragma once

#include <ATen/core/dispatch/Dispatcher.h>

namespace pooling_ext {

template <typename Signature>
c10::TypedOperatorHandle<Signature> op_handle(const char* name) {
  return c10::Dispatcher::singleton().findSchemaOrThrow(name, "").typed<Signature>();
}

}  // namespace pooling_ext
