// One BPF object file: open → configure (autoload, .rodata, map sizes) → load → attach, plus the map and
// program queries the agent needs afterwards. Validation of names and values lives in src/receiver/kernel.ts;
// this layer only refuses what would make libbpf misbehave (wrong sizes, use after close).
#pragma once

#include <napi.h>

#include <cstdint>
#include <string>
#include <unordered_map>

#include "addon_state.h"

struct bpf_object;
struct bpf_program;
struct bpf_map;
struct bpf_link;

namespace kubesentry {

class BpfObject : public Napi::ObjectWrap<BpfObject>, public Closable {
 public:
  static Napi::Function Define(Napi::Env env);
  explicit BpfObject(const Napi::CallbackInfo& info);
  ~BpfObject() override;
  void CloseResources() override;

 private:
  Napi::Value Programs(const Napi::CallbackInfo& info);
  Napi::Value Maps(const Napi::CallbackInfo& info);
  Napi::Value SetAutoload(const Napi::CallbackInfo& info);
  Napi::Value SetRodata(const Napi::CallbackInfo& info);
  Napi::Value ResizeMap(const Napi::CallbackInfo& info);
  Napi::Value Load(const Napi::CallbackInfo& info);
  Napi::Value Attach(const Napi::CallbackInfo& info);
  Napi::Value AttachTracepoint(const Napi::CallbackInfo& info);
  Napi::Value AttachUprobe(const Napi::CallbackInfo& info);
  Napi::Value Detach(const Napi::CallbackInfo& info);
  Napi::Value MapFd(const Napi::CallbackInfo& info);
  Napi::Value MapUpdate(const Napi::CallbackInfo& info);
  Napi::Value MapLookup(const Napi::CallbackInfo& info);
  Napi::Value MapDelete(const Napi::CallbackInfo& info);
  Napi::Value PerCpuSum(const Napi::CallbackInfo& info);
  Napi::Value MapEntries(const Napi::CallbackInfo& info);
  Napi::Value RunIterator(const Napi::CallbackInfo& info);
  Napi::Value ProgramStats(const Napi::CallbackInfo& info);
  Napi::Value Close(const Napi::CallbackInfo& info);

  // Each returns nullptr after throwing a KernelError.
  bool EnsureOpen(Napi::Env env);
  bpf_program* FindProgram(Napi::Env env, const Napi::Value& name);
  bpf_map* FindMap(Napi::Env env, const Napi::Value& name);
  Napi::Value RememberLink(Napi::Env env, bpf_link* link, const std::string& what);

  bpf_object* object_ = nullptr;
  bool loaded_ = false;
  std::string path_;
  std::string log_;
  uint32_t next_link_id_ = 1;
  std::unordered_map<uint32_t, bpf_link*> links_;
};

}  // namespace kubesentry
