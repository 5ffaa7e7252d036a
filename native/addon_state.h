// Addon-wide state, one instance per Node environment (worker threads get their own), and the base of every
// native resource.
#pragma once

#include <napi.h>

namespace kubesentry {

// A resource that must not outlive its environment: on worker termination or process exit an environment
// cleanup hook closes it, so no program stays attached and no thread keeps running. Each resource registers its
// own hook rather than one addon-wide hook walking a list, because hooks run in reverse order of registration:
// a ring-buffer reader registers after creating its thread-safe function, so it stops its thread and releases
// the function before Node tears that function down.
class Closable {
 public:
  virtual ~Closable() = default;
  virtual void CloseResources() = 0;

 protected:
  void CloseWithEnvironment(napi_env env);
  // Call first thing in CloseResources().
  void ForgetEnvironment();

 private:
  static void OnEnvironmentCleanup(void* resource);
  napi_env cleanup_env_ = nullptr;
};

struct AddonState {
  Napi::FunctionReference kernel_error_class;
  Napi::FunctionReference bpf_object_constructor;
  Napi::FunctionReference ring_buffer_reader_constructor;
};

AddonState* GetAddonState(Napi::Env env);

}  // namespace kubesentry
