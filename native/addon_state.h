// Addon-wide state, one instance per Node environment (worker threads get their own). The environment cleanup
// hook closes every live resource so a worker or process exit never leaves programs attached or threads running.
#pragma once

#include <napi.h>

#include <unordered_set>

namespace kubesentry {

class Closable {
 public:
  virtual ~Closable() = default;
  virtual void CloseResources() = 0;
};

struct AddonState {
  Napi::FunctionReference kernel_error_class;
  Napi::FunctionReference bpf_object_constructor;
  Napi::FunctionReference ring_buffer_reader_constructor;
  std::unordered_set<Closable*> live_resources;
};

AddonState* GetAddonState(Napi::Env env);

}  // namespace kubesentry
