// Entry point of the kubesentry native addon: registers the classes, the addon-wide state and the environment
// cleanup hook, plus the few free functions probing needs. See bpf_object.h and ring_buffer_reader.h.
#include <bpf/libbpf.h>
#include <sys/mount.h>

#include <cerrno>

#include "addon_state.h"
#include "bpf_object.h"
#include "kernel_error.h"
#include "libbpf_log.h"
#include "ring_buffer_reader.h"

namespace kubesentry {

AddonState* GetAddonState(Napi::Env env) { return env.GetInstanceData<AddonState>(); }

void Closable::CloseWithEnvironment(napi_env env) {
  if (napi_add_env_cleanup_hook(env, &Closable::OnEnvironmentCleanup, this) == napi_ok) cleanup_env_ = env;
}

void Closable::ForgetEnvironment() {
  if (cleanup_env_ == nullptr) return;
  napi_remove_env_cleanup_hook(cleanup_env_, &Closable::OnEnvironmentCleanup, this);
  cleanup_env_ = nullptr;
}

void Closable::OnEnvironmentCleanup(void* resource) { static_cast<Closable*>(resource)->CloseResources(); }

namespace {

// mountFilesystem(fstype: string, target: string): mount(2) with the fstype as the source, as tracefs and bpffs
// expect.
Napi::Value MountFilesystem(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() != 2 || !info[0].IsString() || !info[1].IsString()) {
    Napi::TypeError::New(env, "mountFilesystem(fstype, target) expects two strings").ThrowAsJavaScriptException();
    return env.Undefined();
  }
  std::string fstype = info[0].As<Napi::String>().Utf8Value();
  std::string target = info[1].As<Napi::String>().Utf8Value();
  if (mount(fstype.c_str(), target.c_str(), fstype.c_str(), 0, nullptr) != 0) {
    return ThrowKernelError(env, "EMOUNT", errno, "cannot mount " + fstype + " at " + target);
  }
  return env.Undefined();
}

// probeMapType(type: string) → 0 when the kernel supports it, else a positive errno.
Napi::Value ProbeMapType(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  std::string name = info[0].ToString().Utf8Value();
  for (int type = 1; const char* type_name = libbpf_bpf_map_type_str(static_cast<bpf_map_type>(type)); type++) {
    if (name != type_name) continue;
    int result = libbpf_probe_bpf_map_type(static_cast<bpf_map_type>(type), nullptr);
    return Napi::Number::New(env, result == 1 ? 0 : (result == 0 ? EOPNOTSUPP : -result));
  }
  return ThrowKernelError(env, "EBPF_NOT_FOUND", ENOENT, "libbpf does not know map type " + name);
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  InstallLibbpfPrintCallback();
  auto* state = new AddonState();
  env.SetInstanceData<AddonState>(state);

  Napi::Function bpf_object = BpfObject::Define(env);
  state->bpf_object_constructor = Napi::Persistent(bpf_object);
  Napi::Function ring_buffer_reader = RingBufferReader::Define(env);
  state->ring_buffer_reader_constructor = Napi::Persistent(ring_buffer_reader);

  exports.Set("BpfObject", bpf_object);
  exports.Set("RingBufferReader", ring_buffer_reader);
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass));
  exports.Set("mountFilesystem", Napi::Function::New(env, MountFilesystem));
  exports.Set("probeMapType", Napi::Function::New(env, ProbeMapType));
  exports.Set("libbpfVersion", Napi::String::New(env, std::to_string(libbpf_major_version()) + "." +
                                                          std::to_string(libbpf_minor_version())));
  return exports;
}

}  // namespace

}  // namespace kubesentry

static Napi::Object InitKubesentry(Napi::Env env, Napi::Object exports) { return kubesentry::Init(env, exports); }

NODE_API_MODULE(kubesentry, InitKubesentry)
